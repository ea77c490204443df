using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Images;
using Strata.Node.Drivers.Vm;
using Strata.Qemu.Guest;
using Strata.Testing;

namespace Strata.Vm.Tests;

/// <summary>
/// What every vm test shares: one image store with the busybox base image, and one cache (initramfs, accelerator
/// probe, ext4 bases) kept across runs under the temp directory so only the first run pays for building them.
/// </summary>
internal static class VmFixture
{
    private static readonly Lazy<Task<ImageStore>> s_images = new(async () =>
    {
        var store = new ImageStore(Directory.CreateTempSubdirectory("strata-vm-img-").FullName);
        await store.BuildBusyboxBaseAsync("busybox:latest");
        if (File.Exists(Arm64Guest.BusyboxPath(Arm64Guest.Directory)))
        {
            // The arm64 busybox cannot run here to list its applets; the host's (same Debian source) lists them.
            await store.BuildBusyboxBaseAsync("busybox:arm64", Arm64Guest.BusyboxPath(Arm64Guest.Directory), "arm64", "/bin/busybox");
        }
        return store;
    });

    /// <summary>The shared image store (busybox:latest built in).</summary>
    public static Task<ImageStore> ImagesAsync() => s_images.Value;

    public static string CacheDirectory { get; } = Path.Combine(Path.GetTempPath(), "strata-vm-tests-cache");

    public static string? Supervisor => TestEnvironment.Supervisor;

    public static void RequireEngine()
    {
        TestEnvironment.Require(Supervisor is not null, "strata-supervisor is not built; run scripts/publish-native.sh");
        TestEnvironment.Require(File.Exists("/usr/bin/qemu-system-x86_64"), "qemu-system-x86_64 is missing; apt-get install qemu-system-x86 qemu-utils");
        TestEnvironment.Require(Directory.GetFiles("/boot", "vmlinuz-*-cloud-amd64").Length > 0, "the guest kernel is missing; apt-get install linux-image-cloud-amd64");
        TestEnvironment.Require(File.Exists("/bin/busybox"), "busybox is missing; apt-get install busybox-static");
    }

    /// <summary>arm64 guests: the emulator plus the kernel and busybox of scripts/fetch-arm64-guest.sh.</summary>
    public static void RequireArm64()
    {
        TestEnvironment.Require(File.Exists("/usr/bin/qemu-system-aarch64"), "qemu-system-aarch64 is missing; apt-get install qemu-system-arm");
        TestEnvironment.Require(Arm64Guest.FindKernel(Arm64Guest.Directory) is not null && File.Exists(Arm64Guest.BusyboxPath(Arm64Guest.Directory)),
            $"the arm64 guest kernel and busybox are missing from {Arm64Guest.Directory}; run scripts/fetch-arm64-guest.sh");
    }

    public static async Task<VmDriver> CreateDriverAsync(Func<VmDriverOptions, VmDriverOptions>? configure = null)
    {
        var images = await s_images.Value;
        var options = new VmDriverOptions
        {
            CacheDirectory = CacheDirectory,
            Supervisor = Supervisor ?? "/nonexistent/strata-supervisor",
            LogMaxBytes = 1024 * 1024,
        };
        return new VmDriver(configure?.Invoke(options) ?? options, images);
    }

    public static VmDriver CreateDriver() => CreateDriverAsync().GetAwaiter().GetResult();

    public static InstanceSpec Busybox(params string[] args) => new() { Image = "busybox:latest", Args = args };
}

/// <summary>One VM instance's directory and handle, killed and deleted at dispose.</summary>
internal sealed class VmInstance : IAsyncDisposable
{
    private readonly TempDirectory _temp;

    private VmInstance(VmDriver driver, TempDirectory temp, DriverHandle handle)
    {
        Driver = driver;
        _temp = temp;
        Handle = handle;
    }

    public VmDriver Driver { get; }
    public DriverHandle Handle { get; set; }
    public string Directory => Handle.Directory;

    public static async Task<VmInstance> CreateAsync(VmDriver driver, InstanceSpec spec)
    {
        var temp = new TempDirectory("strata-vm");
        var id = Guid.NewGuid().ToString("N")[..12];
        var dir = temp.Combine(id);
        System.IO.Directory.CreateDirectory(dir);
        try
        {
            var handle = await driver.CreateAsync(new CreateRequest { InstanceId = id, Name = "vm-" + id[..6], Project = "default", Directory = dir, Spec = spec with { Name = "vm-" + id[..6] } }, CancellationToken.None);
            return new VmInstance(driver, temp, handle);
        }
        catch
        {
            temp.Dispose();
            throw;
        }
    }

    public async Task StartAsync() => Handle = await Driver.StartAsync(Handle, CancellationToken.None);

    public async Task<ExitStatus> WaitAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(120));
        return await Driver.WaitAsync(Handle, cts.Token);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Driver.KillAsync(Handle, 9, CancellationToken.None);
            if (Handle.SupervisorPid is not null)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try
                {
                    await Driver.WaitAsync(Handle, cts.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
            await Driver.DeleteAsync(Handle, CancellationToken.None);
        }
        finally
        {
            _temp.Dispose();
        }
    }
}
