using System.Runtime.InteropServices;
using Strata.Node.Supervision;

namespace Strata.Node.Cgroups;

/// <summary>
/// The cgroup2 mount option <c>favordynmods</c> (Linux 6.0+). Moving a process into a cgroup — what the OCI runtime
/// does for every container and the supervisor for every limited process — takes the kernel's global threadgroup
/// lock for writing, and after a pause that first waits for a full RCU grace period: 7–12 ms of every container
/// start on a 2-CPU VM, a quarter of a whole runc run, spent asleep. With the option the lock stays ready, at the
/// price of slightly dearer fork and exit (Documentation/admin-guide/cgroup-v2.rst, "favordynmods"). It belongs to
/// the kernel's cgroup core, so setting it on any cgroup2 mount (a hybrid host's <c>/sys/fs/cgroup/unified</c>
/// too) serves the v1 hierarchies as well. The daemon turns it on at start (docs/daemon-behavior.md).
/// </summary>
public static partial class CgroupFavorDynMods
{
    public const string Option = "favordynmods";

    /// <summary>The outcome: whether the option is on now, and what was done or why it could not be.</summary>
    public sealed record Result(bool Enabled, string Detail);

    /// <summary>One cgroup2 mount: where, its per-mount flags and its filesystem (super block) options.</summary>
    public sealed record Cgroup2Mount(string MountPoint, IReadOnlyList<string> MountOptions, IReadOnlyList<string> SuperOptions)
    {
        public bool FavorsDynMods => SuperOptions.Contains(Option);
    }

    /// <summary>The cgroup2 mount to use from a /proc/self/mountinfo text: /sys/fs/cgroup, then .../unified, then any.</summary>
    public static Cgroup2Mount? Find(string mountinfo)
    {
        var mounts = new List<Cgroup2Mount>();
        foreach (var line in mountinfo.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT MOUNTOPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
            var fields = line.Split(' ');
            var dash = Array.IndexOf(fields, "-");
            if (fields.Length < 6 || dash < 6 || dash + 3 >= fields.Length || fields[dash + 1] != "cgroup2")
            {
                continue;
            }
            mounts.Add(new Cgroup2Mount(Unescape(fields[4]), fields[5].Split(','), fields[dash + 3].Split(',')));
        }
        return mounts.FirstOrDefault(m => m.MountPoint == "/sys/fs/cgroup")
            ?? mounts.FirstOrDefault(m => m.MountPoint == "/sys/fs/cgroup/unified")
            ?? mounts.FirstOrDefault();
    }

    /// <summary>The remount's flags: MS_REMOUNT plus the mount's own flags, which a remount would otherwise reset.</summary>
    public static ulong RemountFlags(Cgroup2Mount mount)
    {
        ulong flags = MS_REMOUNT;
        foreach (var option in mount.MountOptions)
        {
            flags |= option switch
            {
                "ro" => 1UL,
                "nosuid" => 2UL,
                "nodev" => 4UL,
                "noexec" => 8UL,
                "noatime" => 1024UL,
                "nodiratime" => 2048UL,
                "relatime" => 1UL << 21,
                "strictatime" => 1UL << 24,
                _ => 0UL,
            };
        }
        return flags;
    }

    /// <summary>The remount's data: every option the file system has now (a cgroup2 remount drops those not given, e.g. nsdelegate) plus favordynmods.</summary>
    public static string RemountData(Cgroup2Mount mount) =>
        string.Join(',', mount.SuperOptions.Where(o => o is not ("rw" or "ro" or "")).Append(Option).Distinct());

    /// <summary>The option's state on this host (reads /proc/self/mountinfo).</summary>
    public static bool IsEnabled() => Find(ReadMountInfo()) is { FavorsDynMods: true };

    /// <summary>Turns the option on unless it is on already. Never throws: a host where it cannot be set still runs containers, only slower.</summary>
    public static Result Enable()
    {
        var mount = Find(ReadMountInfo());
        if (mount is null)
        {
            return new Result(false, "no cgroup2 mount to set it on (a hybrid host can add one: mount -t cgroup2 none /sys/fs/cgroup/unified)");
        }
        if (mount.FavorsDynMods)
        {
            return new Result(true, $"already on ({mount.MountPoint})");
        }
        if (mount_remount(null, mount.MountPoint, null, RemountFlags(mount), RemountData(mount)) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            var why = errno switch
            {
                EINVAL => "the kernel does not know the option (it needs Linux 6.0 or later)",
                EPERM => "not permitted (it needs CAP_SYS_ADMIN in the host's namespaces)",
                _ => Libc.ErrorText(errno),
            };
            return new Result(false, $"could not remount {mount.MountPoint} with {Option}: {why}");
        }
        return Find(ReadMountInfo()) is { FavorsDynMods: true }
            ? new Result(true, $"turned on ({mount.MountPoint} remounted with {Option})")
            : new Result(false, $"{mount.MountPoint} was remounted but does not show {Option}");
    }

    private static string ReadMountInfo()
    {
        try
        {
            return File.ReadAllText("/proc/self/mountinfo");
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>mountinfo escapes space, tab, newline and backslash as \ooo.</summary>
    private static string Unescape(string field) =>
        field.Contains('\\', StringComparison.Ordinal)
            ? System.Text.RegularExpressions.Regex.Replace(field, @"\\([0-7]{3})", m => ((char)Convert.ToInt32(m.Groups[1].Value, 8)).ToString())
            : field;

    private const ulong MS_REMOUNT = 32;
    private const int EPERM = 1;
    private const int EINVAL = 22;

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mount_remount(string? source, string target, string? fsType, ulong flags, string data);
}
