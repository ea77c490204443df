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
    }, new ImageStoreResolver(new ImageStore(ImagesRoot)));

    /// <summary>
    /// busybox plus a layer with an <c>app</c> user (<c>app:x:1000:1000::/home/app:/bin/sh</c>) and group, whose
    /// config says <c>USER app</c>, as an image built with a Dockerfile <c>USER app</c> line would.
    /// </summary>
    public const string AppImage = "busybox-app:latest";

    private static readonly Lazy<Task> s_appImage = new(BuildAppImageAsync);

    public static Task EnsureAppImageAsync() => s_appImage.Value;

    private static async Task BuildAppImageAsync()
    {
        var upper = Path.Combine(Root, "app-layer");
        Directory.CreateDirectory(Path.Combine(upper, "etc"));
        Directory.CreateDirectory(Path.Combine(upper, "home", "app"));
        await File.WriteAllTextAsync(Path.Combine(upper, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
        await File.WriteAllTextAsync(Path.Combine(upper, "etc", "group"), "root:x:0:\napp:x:1000:\n");
        await new ImageStore(ImagesRoot).CommitLayerAsync("busybox:latest", upper, AppImage, null);
    }

    /// <summary>Sets <c>USER app</c> on <see cref="AppImage"/>'s config (the store's commit keeps the base image's config).</summary>
    internal sealed class AppUserResolver(IImageResolver inner) : IImageResolver
    {
        public async Task<ResolvedImage> ResolveAsync(string reference, CancellationToken cancellationToken)
        {
            var image = await inner.ResolveAsync(reference, cancellationToken);
            return reference == AppImage ? image with { Config = image.Config with { User = "app" } } : image;
        }
    }

    /// <summary>A driver like <see cref="CreateDriver"/> that also knows <see cref="AppImage"/>'s USER.</summary>
    public static SandboxDriver CreateAppDriver() => new(new SandboxDriverOptions
    {
        CacheDirectory = CacheDirectory,
        Supervisor = Supervisor ?? "/nonexistent/strata-supervisor",
        LogMaxBytes = 1024 * 1024,
        Accelerator = Environment.GetEnvironmentVariable("STRATA_SANDBOX_ACCEL") ?? Accelerators.Tcg,
    }, new AppUserResolver(new ImageStoreResolver(new ImageStore(ImagesRoot))));

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
