using System.Text.Json.Nodes;
using Strata.Contracts.Host;

namespace Strata.Bench.Core;

/// <summary>
/// What the baselines need, prepared once per run in a scratch directory: a busybox root filesystem, a runc bundle
/// that runs it directly with Strata's own config.json (the raw OCI runtime, no Strata), one with <c>runc spec</c> defaults, a podman image imported from the same files, and a tiny
/// WASI module. <see cref="DisposeAsync"/> removes the podman image and the directory.
/// </summary>
public sealed class BaselineKit : IAsyncDisposable
{
    /// <summary>The smallest WASI program: prints one line (the wasm tier's trivial workload).</summary>
    public const string HelloWat = """
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory 1)
          (export "memory" (memory 0))
          (data (i32.const 8) "bench\n")
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 8))
            (i32.store (i32.const 4) (i32.const 6))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 40)))))
        """;

    private readonly bool _ownsDirectory;

    public BaselineKit(string? directory, string runId)
    {
        _ownsDirectory = directory is null;
        Directory = directory ?? System.IO.Directory.CreateTempSubdirectory("strata-bench-").FullName;
        System.IO.Directory.CreateDirectory(Directory);
        RunId = runId;
        WasmModule = Path.Combine(Directory, "bench.wat");
        File.WriteAllText(WasmModule, HelloWat);
    }

    public string Directory { get; }
    public string RunId { get; }
    public string WasmModule { get; }
    public string? Rootfs { get; private set; }
    /// <summary>The bundle with Strata's own config.json (see <see cref="PrepareBundleFrom"/>).</summary>
    public string? Bundle { get; private set; }
    /// <summary>The bundle with <c>runc spec</c> defaults (see <see cref="PrepareDefaultBundle"/>).</summary>
    public string? DefaultBundle { get; private set; }
    public string? PodmanImage { get; private set; }
    private string? _podman;

    public void BuildRootfs(string busybox)
    {
        var rootfs = Path.Combine(Directory, "rootfs");
        var bin = Path.Combine(rootfs, "bin");
        System.IO.Directory.CreateDirectory(bin);
        foreach (var d in new[] { "proc", "sys", "dev", "tmp", "etc", "root" })
        {
            System.IO.Directory.CreateDirectory(Path.Combine(rootfs, d));
        }
        File.Copy(busybox, Path.Combine(bin, "busybox"), overwrite: true);
        var applets = Run(busybox, "--list").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        foreach (var applet in applets.Where(a => a != "busybox"))
        {
            File.CreateSymbolicLink(Path.Combine(bin, applet), "busybox");
        }
        Rootfs = rootfs;
    }

    /// <summary><c>runc spec</c> defaults (no seccomp filter, no resource limits), no terminal, <c>echo bench</c> in the rootfs directly (no overlay).</summary>
    public void PrepareDefaultBundle(string runc)
    {
        var bundle = Path.Combine(Directory, "bundle-defaults");
        System.IO.Directory.CreateDirectory(bundle);
        Run(runc, "spec", "--bundle", bundle);
        var path = Path.Combine(bundle, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!;
        config["process"]!["terminal"] = false;
        config["process"]!["args"] = new JsonArray("echo", "bench");
        config["root"]!["path"] = Rootfs ?? throw new InvalidOperationException("build the rootfs first");
        File.WriteAllText(path, config.ToJsonString());
        DefaultBundle = bundle;
    }

    /// <summary>
    /// The bundle of the P1 comparison ("same flags"): the <c>config.json</c> Strata itself gave the runtime for the same
    /// workload (<c>strata inspect --runtime-config</c>: namespaces, capabilities, seccomp allowlist, masked paths, limits),
    /// with only the root pointed at the kit's plain rootfs directory (Strata's overlay mount is Strata's work) and a
    /// cgroup of its own next to Strata's. Refused when it bind-mounts host files (the trivial workload has none; a
    /// network member's hosts file would be gone with the instance).
    /// </summary>
    public void PrepareBundleFrom(string strataConfigJson)
    {
        var config = JsonNode.Parse(strataConfigJson) as JsonObject ?? throw new InvalidOperationException("the runtime config is not a JSON object");
        foreach (var mount in config["mounts"] as JsonArray ?? [])
        {
            if (mount?["type"]?.GetValue<string>() == "bind" && mount["source"]?.GetValue<string>() is { } source && source != "/sys")
            {
                throw new InvalidOperationException($"Strata's config.json for the benchmark workload bind-mounts {source}; the raw runtime cannot reuse it");
            }
        }
        var bundle = Path.Combine(Directory, "bundle");
        System.IO.Directory.CreateDirectory(bundle);
        config["root"]!["path"] = Rootfs ?? throw new InvalidOperationException("build the rootfs first");
        config["process"]!["terminal"] = false;
        if (config["linux"]?["cgroupsPath"]?.GetValue<string>() is { Length: > 0 } cgroups)
        {
            var parent = cgroups.Contains(':', StringComparison.Ordinal) ? null : Path.GetDirectoryName(cgroups);
            config["linux"]!["cgroupsPath"] = parent is null ? $"strata-bench-{RunId}" : $"{parent.TrimEnd('/')}/strata-bench-{RunId}";
        }
        File.WriteAllText(Path.Combine(bundle, "config.json"), config.ToJsonString());
        Bundle = bundle;
    }

    public void ImportPodmanImage(string podman)
    {
        var tar = Path.Combine(Directory, "rootfs.tar");
        Run("tar", "-C", Rootfs ?? throw new InvalidOperationException("build the rootfs first"), "-cf", tar, ".");
        var image = $"localhost/strata-bench-busybox-{RunId}";
        Run(podman, "import", tar, image);
        File.Delete(tar);
        _podman = podman;
        PodmanImage = image;
    }

    /// <summary>The podman image's size as podman reports it (uncompressed).</summary>
    public long? PodmanImageSize() =>
        _podman is null || PodmanImage is null ? null
            : long.TryParse(Run(_podman, "image", "inspect", "--format", "{{.Size}}", PodmanImage).Trim(), out var size) ? size : null;

    public static long DirectorySize(string directory) =>
        new DirectoryInfo(directory).EnumerateFiles("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint })
            .Sum(f => f.Length);

    public ValueTask DisposeAsync()
    {
        if (_podman is not null && PodmanImage is not null)
        {
            try
            {
                Run(_podman, "rmi", "-f", PodmanImage);
            }
            catch (InvalidOperationException)
            {
                // Best effort: the run's result does not depend on it.
            }
        }
        if (_ownsDirectory)
        {
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
        return ValueTask.CompletedTask;
    }

    internal static string Run(string file, params string[] args)
    {
        // Setup steps are synchronous; the runner is the one every host tool goes through.
        var result = HostTool.RunAsync(file, args).GetAwaiter().GetResult();
        return result.Succeeded ? result.Stdout
            : throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', args)} failed ({result.ExitCode}): {result.Error}");
    }
}
