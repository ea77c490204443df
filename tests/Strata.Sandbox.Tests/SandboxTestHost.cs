using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Images;
using Strata.Node.Drivers.Sandbox;
using Strata.Node.Images;
using Strata.Node.Logs;
using Strata.Qemu;
using Strata.Testing;

// Each guest boot keeps a core busy under TCG; running test classes side by side on a small shared
// machine only makes every boot slower.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Strata.Sandbox.Tests;

/// <summary>
/// What every sandbox test shares: an image store holding busybox:latest (built from the host's static
/// busybox), a cache for the initramfs and base disks, and the published supervisor. Built once per run.
/// </summary>
internal static class SandboxTestHost
{
    private static readonly Lazy<Task<string>> s_root = new(BuildAsync);

    public static string Root => s_root.Value.GetAwaiter().GetResult();

    public static string ImagesRoot => Path.Combine(Root, "images");

    public static string CacheDirectory => Path.Combine(Root, "cache");

    public static string? Supervisor => TestEnvironment.Supervisor;

    /// <summary>Skips (fails in CI) unless QEMU, a guest kernel, static busybox and the supervisor are here.</summary>
    public static void RequireEngine()
    {
        TestEnvironment.Require(TestEnvironment.Which("qemu-system-x86_64") is not null, "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
        TestEnvironment.Require(Directory.Exists("/boot") && Directory.GetFiles("/boot", "vmlinuz-*-cloud-amd64").Length > 0
            || Environment.GetEnvironmentVariable("STRATA_GUEST_KERNEL") is not null, "no guest kernel (apt-get install linux-image-cloud-amd64)");
        TestEnvironment.Require(File.Exists("/bin/busybox"), "static busybox is missing (apt-get install busybox-static)");
        TestEnvironment.Require(TestEnvironment.Which("mkfs.ext4") is not null && TestEnvironment.Which("qemu-img") is not null, "e2fsprogs or qemu-utils is missing");
        TestEnvironment.Require(Supervisor is not null, "strata-supervisor is not built; run scripts/publish-native.sh");
    }

    /// <summary>A driver over the shared store and cache; TCG is forced so tests do not pay the KVM probe.</summary>
    public static SandboxDriver CreateDriver() => new(new SandboxDriverOptions
    {
        CacheDirectory = CacheDirectory,
        Supervisor = Supervisor ?? "/nonexistent/strata-supervisor",
        LogMaxBytes = 1024 * 1024,
        Accelerator = Environment.GetEnvironmentVariable("STRATA_SANDBOX_ACCEL") ?? Accelerators.Tcg,
    }, new StoreResolver(new ImageStore(ImagesRoot)));

    /// <summary>The image store as the driver sees images (the daemon has the same adapter).</summary>
    internal sealed class StoreResolver(ImageStore store) : IImageResolver
    {
        public async Task<ResolvedImage> ResolveAsync(string reference, CancellationToken cancellationToken)
        {
            var prepared = await store.PrepareRootfsLayersAsync(reference, cancellationToken);
            var c = prepared.Config;
            return new ResolvedImage(prepared.LayerDirs, new Strata.Node.Images.ImageConfig
            {
                Entrypoint = c.Entrypoint.Count > 0 ? c.Entrypoint : null,
                Cmd = c.Cmd.Count > 0 ? c.Cmd : null,
                Env = c.Env,
                WorkingDir = string.IsNullOrEmpty(c.WorkingDir) ? null : c.WorkingDir,
                User = string.IsNullOrEmpty(c.User) ? null : c.User,
            }, prepared.Image.Id.ToString());
        }
    }

    private static async Task<string> BuildAsync()
    {
        var root = Directory.CreateTempSubdirectory("strata-sandbox-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
            }
        };
        var store = new ImageStore(Path.Combine(root, "images"));
        await store.BuildBusyboxBaseAsync();
        return root;
    }

    /// <summary>Creates (in a fresh directory under <paramref name="temp"/>) and starts a sandbox.</summary>
    public static async Task<DriverHandle> CreateAsync(IDriver driver, TempDirectory temp, InstanceSpec spec)
    {
        var id = Guid.NewGuid().ToString("N");
        var dir = temp.Combine(id[..12]);
        Directory.CreateDirectory(dir);
        var name = "sb-" + id[..8];
        return await driver.CreateAsync(new CreateRequest
        {
            InstanceId = id,
            Name = name,
            Project = "default",
            Directory = dir,
            Spec = spec with { Name = name },
        }, CancellationToken.None);
    }

    public static IReadOnlyList<LogRecord> Logs(DriverHandle handle) => CriLogReader.ReadTail(LogFiles.LogDirectory(handle.Directory), null);

    public static string Stream(DriverHandle handle, string stream) =>
        string.Concat(Logs(handle).Where(r => r.Stream == stream).Select(r => r.Text + (r.Partial ? "" : "\n")));
}
