using System.Text;
using System.Text.Json.Nodes;
using Strata.Contracts;
using Strata.Contracts.Host;
using Strata.Node.Cgroups;

namespace Strata.Node.Drivers.Container;

/// <summary>
/// One OCI runtime binary (runc or crun) and how Strata calls it. <see cref="Probe"/> decides which one to use
/// by running a trivial container with each, because "installed" is not "works here": crun 1.8 refuses hybrid
/// cgroup hosts unless told not to manage cgroups at all.
/// </summary>
public sealed class OciRuntime
{
    public const string Runc = "runc";
    public const string Crun = "crun";

    private OciRuntime(string name, string path, string version, IReadOnlyList<string> globalArgs, bool managesCgroups, string reason, string stateRoot)
    {
        Name = name;
        Path = path;
        Version = version;
        GlobalArgs = globalArgs;
        ManagesCgroups = managesCgroups;
        Reason = reason;
        StateRoot = stateRoot;
    }

    public string Name { get; }
    public string Path { get; }
    public string Version { get; }
    /// <summary>Arguments before the subcommand (state root, cgroup manager).</summary>
    public IReadOnlyList<string> GlobalArgs { get; }
    /// <summary>False for crun with <c>--cgroup-manager=disabled</c>: Strata then places the runtime in the instance's cgroups itself.</summary>
    public bool ManagesCgroups { get; }
    /// <summary>Why this runtime was chosen (shown by <c>strata info</c>).</summary>
    public string Reason { get; }
    /// <summary>The runtime's own state directory (<c>--root</c>), private to Strata.</summary>
    public string StateRoot { get; }

    /// <summary>argv of the foreground <c>run</c> the supervisor holds: its stdio is the container's stdio.</summary>
    public IReadOnlyList<string> RunArgv(string bundle, string containerId) =>
        [Path, .. GlobalArgs, "run", "--bundle", bundle, containerId];

    public bool HasState(string containerId) => Directory.Exists(System.IO.Path.Combine(StateRoot, containerId));

    /// <summary>Runs a runtime subcommand to completion.</summary>
    public Task<HostToolResult> RunAsync(IReadOnlyList<string> args, CancellationToken ct, TimeSpan? timeout = null) =>
        Exec(Path, [.. GlobalArgs, .. args], ct, timeout ?? TimeSpan.FromSeconds(30));

    /// <summary><c>state ID</c>: status (created, running, paused, stopped) and the container's init pid, or null when there is no such container.</summary>
    public async Task<(string Status, int Pid)?> StateAsync(string containerId, CancellationToken ct)
    {
        if (!HasState(containerId))
        {
            return null;
        }
        var result = await RunAsync(["state", containerId], ct).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            return null;
        }
        var json = JsonNode.Parse(result.Stdout);
        return ((string?)json?["status"] ?? "unknown", (int?)json?["pid"] ?? 0);
    }

    /// <summary>
    /// Runs a host tool (the runtime, tar, criu) through <see cref="HostTool.RunAsync"/>. A tool that outlives
    /// <paramref name="timeout"/> is killed and reported as a failed run (exit -1, the reason as its error), as a
    /// non-zero exit would be, so callers handle one shape; a tool that cannot be started at all throws.
    /// </summary>
    public static async Task<HostToolResult> Exec(string path, IReadOnlyList<string> args, CancellationToken ct, TimeSpan timeout)
    {
        try
        {
            return await HostTool.RunAsync(path, args, new HostToolOptions { Timeout = timeout }, ct).ConfigureAwait(false);
        }
        catch (StrataException e) when (e.Kind == ErrorKind.Internal && !ct.IsCancellationRequested)
        {
            return new HostToolResult(path, args, -1, "", e.Message);
        }
    }

    /// <summary>
    /// Finds runc and crun, checks each by running a trivial container, and picks one: the preferred one
    /// (<paramref name="preferred"/>, a name or a path) if it works, else runc, else crun with cgroups, else crun
    /// without (Strata then applies the limits itself). Null with the reasons when none works.
    /// </summary>
    public static async Task<(OciRuntime? Runtime, string Report)> ProbeAsync(string stateRoot, string? preferred, CancellationToken ct, string cgroupParent = CgroupSet.DefaultParent)
    {
        PrivatePaths.CreateDirectory(stateRoot);
        var notes = new List<string>();
        var candidates = new List<(string Name, string Path)>();
        if (preferred is not null)
        {
            var path = preferred.Contains('/') ? preferred : Which(preferred);
            if (path is null || !File.Exists(path))
            {
                notes.Add($"{preferred}: not found");
            }
            else
            {
                candidates.Add((System.IO.Path.GetFileName(path), path));
            }
        }
        foreach (var name in new[] { Runc, Crun })
        {
            if (Which(name) is { } p && !candidates.Any(c => c.Path == p))
            {
                candidates.Add((name, p));
            }
            else if (Which(name) is null)
            {
                notes.Add($"{name}: not installed");
            }
        }

        foreach (var (name, path) in candidates)
        {
            var version = await VersionAsync(path, ct).ConfigureAwait(false);
            var root = System.IO.Path.Combine(stateRoot, name);
            Directory.CreateDirectory(root);
            var plain = new OciRuntime(name, path, version, ["--root", root], true, "", root);
            var error = await TryTrivialContainerAsync(plain, cgroupParent, ct).ConfigureAwait(false);
            var why = preferred is not null && candidates[0].Path == path ? "requested" : name == Runc ? "preferred" : "runc unusable here";
            if (error is null)
            {
                return (new OciRuntime(name, path, version, plain.GlobalArgs, true, $"{name} {version}: {why}; verified by running a test container", root), string.Join("; ", notes));
            }
            notes.Add($"{name} {version}: {error}");
            if (name == Crun)
            {
                var disabled = new OciRuntime(name, path, version, ["--cgroup-manager=disabled", "--root", root], false, "", root);
                var disabledError = await TryTrivialContainerAsync(disabled, cgroupParent, ct).ConfigureAwait(false);
                if (disabledError is not null)
                {
                    notes.Add($"{name} --cgroup-manager=disabled: {disabledError}");
                }
                else
                {
                    var reason = $"{name} {version} with --cgroup-manager=disabled ({why}; it refuses this host's cgroup layout otherwise); Strata applies the limits by starting it inside the instance's cgroups";
                    return (new OciRuntime(name, path, version, disabled.GlobalArgs, false, reason, root), string.Join("; ", notes));
                }
            }
        }
        return (null, notes.Count == 0 ? "no OCI runtime found; install runc (apt-get install runc)" : string.Join("; ", notes) + "; install runc (apt-get install runc)");
    }

    private static async Task<string> VersionAsync(string path, CancellationToken ct)
    {
        try
        {
            var r = await Exec(path, ["--version"], ct, TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            var first = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "";
            var words = first.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return words.Length >= 3 && words[1] == "version" ? words[2] : first.Trim();
        }
        catch (StrataException e) when (e.Kind == ErrorKind.Unavailable)
        {
            return "unknown (" + e.Message + ")";
        }
    }

    /// <summary>
    /// Runs <c>busybox true</c> (busybox-static bind-mounted read-only into an empty rootfs) with the namespaces
    /// and cgroups a real container gets. Returns null when it worked, else the runtime's complaint.
    /// </summary>
    private static async Task<string?> TryTrivialContainerAsync(OciRuntime runtime, string cgroupParent, CancellationToken ct)
    {
        var busybox = StaticBusybox();
        if (busybox is null)
        {
            return "cannot verify: busybox-static is not installed (apt-get install busybox-static)";
        }
        var dir = Directory.CreateTempSubdirectory("strata-probe-");
        var id = "strata-probe-" + Guid.NewGuid().ToString("N")[..12];
        try
        {
            Directory.CreateDirectory(System.IO.Path.Combine(dir.FullName, "rootfs"));
            var config = new JsonObject
            {
                ["ociVersion"] = "1.0.2",
                ["process"] = new JsonObject
                {
                    ["args"] = new JsonArray("/busybox", "true"),
                    ["cwd"] = "/",
                    ["env"] = new JsonArray("PATH=/"),
                    ["user"] = new JsonObject { ["uid"] = 0, ["gid"] = 0 },
                    ["noNewPrivileges"] = true,
                },
                ["root"] = new JsonObject { ["path"] = "rootfs", ["readonly"] = true },
                ["hostname"] = "probe",
                ["mounts"] = new JsonArray(
                    new JsonObject { ["destination"] = "/proc", ["type"] = "proc", ["source"] = "proc" },
                    new JsonObject { ["destination"] = "/busybox", ["type"] = "bind", ["source"] = busybox, ["options"] = new JsonArray("rbind", "ro") }),
                ["linux"] = new JsonObject
                {
                    ["namespaces"] = new JsonArray(
                        new JsonObject { ["type"] = "pid" }, new JsonObject { ["type"] = "mount" }, new JsonObject { ["type"] = "ipc" },
                        new JsonObject { ["type"] = "uts" }, new JsonObject { ["type"] = "network" }),
                    ["cgroupsPath"] = $"/{cgroupParent}/{id}",
                    ["resources"] = new JsonObject { ["pids"] = new JsonObject { ["limit"] = 16 } },
                },
            };
            File.WriteAllText(System.IO.Path.Combine(dir.FullName, "config.json"), config.ToJsonString());
            var result = await runtime.RunAsync(["run", "--bundle", dir.FullName, id], ct, TimeSpan.FromSeconds(20)).ConfigureAwait(false);
            if (result.ExitCode == 0)
            {
                return null;
            }
            await runtime.RunAsync(["delete", "--force", id], ct, TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            var message = (result.Stderr + result.Stdout).Trim();
            var lines = message.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            return $"test container failed (exit {result.ExitCode}): {(lines.Length > 0 ? lines[^1].Trim() : "no output")}";
        }
        finally
        {
            try
            {
                dir.Delete(recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>A statically linked busybox, if the host has one (needed only to verify runtimes).</summary>
    public static string? StaticBusybox()
    {
        foreach (var candidate in new[] { "/bin/busybox", "/usr/bin/busybox" })
        {
            if (File.Exists(candidate) && IsStatic(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    /// <summary>An ELF file without a PT_INTERP program header needs no dynamic loader.</summary>
    private static bool IsStatic(string path)
    {
        try
        {
            var bytes = File.ReadAllBytes(path);
            if (bytes.Length < 64 || bytes[0] != 0x7f || bytes[1] != (byte)'E' || bytes[4] != 2)
            {
                return false;
            }
            var phoff = BitConverter.ToInt64(bytes, 32);
            int phentsize = BitConverter.ToUInt16(bytes, 54), phnum = BitConverter.ToUInt16(bytes, 56);
            for (var i = 0; i < phnum; i++)
            {
                var off = (int)phoff + i * phentsize;
                if (off + 4 <= bytes.Length && BitConverter.ToUInt32(bytes, off) == 3 /* PT_INTERP */)
                {
                    return false;
                }
            }
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    public static string? Which(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
                     .Concat(["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]))
        {
            var candidate = System.IO.Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    public override string ToString() => new StringBuilder(Name).Append(' ').Append(Version).ToString();
}
