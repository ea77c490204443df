using System.Globalization;
using System.Text;
using Strata.Contracts;

namespace Strata.Qemu;

/// <summary>A host directory (or one file) one virtiofsd serves to a guest.</summary>
/// <param name="HostPath">The directory on the host (absolute).</param>
/// <param name="MountPoint">An empty directory the host path is bind-mounted on, in a private mount namespace, for virtiofsd to serve.</param>
/// <param name="SocketPath">virtiofsd's vhost-user socket (QEMU connects to it).</param>
/// <param name="ReadOnly">The bind mount is read-only, so the host refuses writes whatever the guest does.</param>
/// <param name="File">
/// <see cref="HostPath"/> is one regular file: in virtiofsd's namespace a small read-only tmpfs on
/// <see cref="MountPoint"/> holds one entry, <see cref="StagedFileName"/>, with the file bind-mounted on it, so the
/// share holds that file and nothing else (not its siblings; the guest cannot add files next to it).
/// </param>
public sealed record VirtioFsExport(string HostPath, string MountPoint, string SocketPath, bool ReadOnly, bool File = false)
{
    /// <summary>The only entry of a file export's share; the guest bind-mounts it onto the target path.</summary>
    public const string StagedFileName = "file";
}

/// <summary>
/// Runs virtiofsd (QEMU's, Debian package qemu-system-common) for a guest's shared directories, as shell
/// lines a launcher runs before it execs QEMU. Each virtiofsd runs in a private mount namespace
/// (<c>unshare -m</c>) where the host directory is bind-mounted on <see cref="VirtioFsExport.MountPoint"/>,
/// read-only when asked (the host enforces it: a guest that remounts read-write still cannot write), and
/// virtiofsd's own sandbox (namespaces + pivot_root into that directory) keeps the guest inside it. The
/// lines start each virtiofsd in the background (same process group as QEMU, so signals to QEMU's group
/// reach them; each exits when QEMU disconnects) and wait until every socket exists.
/// </summary>
public static class VirtioFsDaemon
{
    public const string Package = "qemu-system-common";

    private static readonly string[] s_candidates = ["/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd", "/usr/libexec/qemu/virtiofsd"];

    /// <summary>The virtiofsd binary, or null when none is installed.</summary>
    public static string? Locate() =>
        s_candidates.FirstOrDefault(File.Exists)
        ?? (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "virtiofsd")).FirstOrDefault(File.Exists);

    /// <summary>
    /// POSIX shell lines that start one virtiofsd per export and return once all sockets exist; on failure they
    /// print why on stderr and <c>exit 125</c>. Values are single-quoted, so any path is safe except that
    /// virtiofsd's <c>-o source=</c> cannot carry a comma: mount points with one are refused.
    /// </summary>
    public static string StartScript(string virtiofsd, IReadOnlyList<VirtioFsExport> exports)
    {
        ArgumentNullException.ThrowIfNull(exports);
        var s = new StringBuilder();
        for (var i = 0; i < exports.Count; i++)
        {
            var e = exports[i];
            if (e.MountPoint.Contains(',', StringComparison.Ordinal))
            {
                throw StrataException.Invalid("directory", $"{e.MountPoint} contains a comma, which virtiofsd cannot take in a path; use a data root without commas");
            }
            // unshare -m gives a private mount namespace (propagation private), so the bind mounts never reach the host's.
            s.Append("rm -f ").Append(Quote(e.SocketPath)).Append("; mkdir -p ").Append(Quote(e.MountPoint)).Append(" && ");
            s.Append("unshare -m --propagation private /bin/sh -c ").Append(Quote(e.File ? StageFileThenExec : BindThenExec)).Append(" sh ")
                .Append(Quote(e.HostPath)).Append(' ').Append(Quote(e.MountPoint)).Append(' ').Append(e.ReadOnly ? "ro" : "rw").Append(' ')
                .Append(Quote(virtiofsd)).Append(" --socket-path=").Append(Quote(e.SocketPath))
                .Append(" -o source=").Append(Quote(e.MountPoint))
                .Append(" -o cache=auto -o sandbox=namespace -o log_level=warn < /dev/null &\n");
            s.Append("vfs").Append(i.ToString(CultureInfo.InvariantCulture)).Append("=$!\n");
        }
        if (exports.Count == 0)
        {
            return "";
        }
        // virtiofsd creates its socket within milliseconds; QEMU must not start before (it connects once). On a
        // failure the ones already started are ended: with no QEMU to connect, they would wait forever.
        var stopAll = "kill" + string.Concat(Enumerable.Range(0, exports.Count).Select(i => " $vfs" + i.ToString(CultureInfo.InvariantCulture))) + " 2>/dev/null; ";
        s.Append("n=0\n");
        s.Append("while :; do\n  ready=1\n");
        for (var i = 0; i < exports.Count; i++)
        {
            var pid = "$vfs" + i.ToString(CultureInfo.InvariantCulture);
            s.Append("  [ -S ").Append(Quote(exports[i].SocketPath)).Append(" ] || { ready=0; kill -0 ").Append(pid)
                .Append(" 2>/dev/null || { echo \"virtiofsd for ").Append(Quote(exports[i].HostPath).Replace("\"", "", StringComparison.Ordinal))
                .Append(" exited; see the lines above\" >&2; ").Append(stopAll).Append("exit 125; }; }\n");
        }
        s.Append("  [ $ready = 1 ] && break\n");
        s.Append("  n=$((n+1)); [ $n -gt 1000 ] && { echo 'virtiofsd did not create its socket within 10 s' >&2; ").Append(stopAll).Append("exit 125; }\n");
        s.Append("  sleep 0.01\ndone\n");
        return s.ToString();
    }

    /// <summary>
    /// Kills any virtiofsd still serving a socket in <paramref name="directory"/> (an instance's): one whose QEMU never
    /// connected (QEMU failed to start) waits forever otherwise, holding its namespace and bind mounts. Returns how
    /// many it found. A virtiofsd is recognised by its own command line, so no other process can be hit.
    /// </summary>
    public static int StopStragglers(string directory)
    {
        var prefix = "--socket-path=" + Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)) + "/";
        var found = 0;
        foreach (var proc in System.IO.Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(proc), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }
            string[] args;
            try
            {
                args = System.IO.File.ReadAllText(Path.Combine(proc, "cmdline")).Split('\0');
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // gone meanwhile
            }
            if (args.Length > 1 && Path.GetFileName(args[0]) == "virtiofsd" && args.Any(a => a.StartsWith(prefix, StringComparison.Ordinal)))
            {
                found++;
                try
                {
                    using var p = System.Diagnostics.Process.GetProcessById(pid);
                    p.Kill();
                }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
                {
                    // exited meanwhile
                }
            }
        }
        return found;
    }

    /// <summary>Run by <c>sh -c</c> in the new mount namespace: $0 sh, $1 host dir, $2 mount point, $3 ro|rw, then virtiofsd's argv.</summary>
    private const string BindThenExec =
        "mount --bind \"$1\" \"$2\" || exit 125; if [ \"$3\" = ro ]; then mount -o remount,bind,ro \"$2\" || exit 125; fi; shift 3; exec \"$@\"";

    /// <summary>
    /// Like <see cref="BindThenExec"/> for one file: a tmpfs on the mount point (only in this namespace; the host's
    /// directory stays empty) gets the one entry, the file is bind-mounted on it (read-only when asked), and the tmpfs
    /// is made read-only so the guest cannot create anything next to the file.
    /// </summary>
    private const string StageFileThenExec =
        "[ -f \"$1\" ] || { echo \"$1 is not a regular file\" >&2; exit 125; }; "
        + "mount -t tmpfs -o size=4k,nr_inodes=8,mode=0755 strata-file \"$2\" && : > \"$2/" + VirtioFsExport.StagedFileName + "\" "
        + "&& mount --bind \"$1\" \"$2/" + VirtioFsExport.StagedFileName + "\" || exit 125; "
        + "if [ \"$3\" = ro ]; then mount -o remount,bind,ro \"$2/" + VirtioFsExport.StagedFileName + "\" || exit 125; fi; "
        + "mount -o remount,ro \"$2\" || exit 125; shift 3; exec \"$@\"";

    internal static string Quote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
