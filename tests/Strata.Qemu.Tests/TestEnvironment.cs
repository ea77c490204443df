using Strata.Qemu.Guest;

[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace Strata.Qemu.Tests;

/// <summary>Whether the real engines are here. In CI (CI=true) a missing engine fails the test instead of skipping it.</summary>
internal static class TestEnvironment
{
    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static string? MissingQemu()
    {
        foreach (var tool in new[] { "qemu-system-x86_64", "qemu-img", "mkfs.ext4" })
        {
            if (!OnPath(tool))
            {
                return $"{tool} is not installed (apt-get install qemu-system-x86 qemu-utils e2fsprogs)";
            }
        }
        return null;
    }

    public static string? MissingGuest()
    {
        if (MissingQemu() is { } q)
        {
            return q;
        }
        if (!File.Exists("/bin/busybox"))
        {
            return "busybox-static is not installed";
        }
        try
        {
            GuestKernel.Locate();
            return null;
        }
        catch (Strata.Contracts.StrataException e)
        {
            return e.Message;
        }
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, tool)));
}

/// <summary>A test that needs QEMU: skipped with the reason outside CI when QEMU is missing; runs (and fails) in CI.</summary>
public sealed class QemuFactAttribute : Xunit.FactAttribute
{
    public QemuFactAttribute()
    {
        if (!TestEnvironment.IsCi && TestEnvironment.MissingQemu() is { } why)
        {
            Skip = why;
        }
    }
}

/// <summary>A test that boots a guest: needs QEMU, busybox-static and the guest kernel.</summary>
public sealed class GuestFactAttribute : Xunit.FactAttribute
{
    public GuestFactAttribute()
    {
        if (!TestEnvironment.IsCi && TestEnvironment.MissingGuest() is { } why)
        {
            Skip = why;
        }
    }
}

/// <summary>A temporary directory removed after the test. Short path: unix sockets live in it.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Path = Directory.CreateTempSubdirectory("sq-").FullName;

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A QEMU that is still exiting may hold a file; the OS temp cleaner gets it.
        }
    }
}

/// <summary>Builds the guest initramfs once for all guest tests.</summary>
public sealed class GuestAssetsFixture : IDisposable
{
    private readonly TempDir _cache = new();
    private readonly Lazy<(GuestKernelInfo Kernel, string Initrd)> _assets;

    public GuestAssetsFixture()
    {
        _assets = new(() =>
        {
            var kernel = GuestKernel.Locate();
            var initrd = new InitramfsBuilder(kernel).EnsureAsync(_cache.Combine("assets"), CancellationToken.None).GetAwaiter().GetResult();
            return (kernel, initrd);
        });
    }

    public GuestKernelInfo Kernel => _assets.Value.Kernel;
    public string Initrd => _assets.Value.Initrd;
    public string CacheDirectory => _cache.Path;

    public void Dispose() => _cache.Dispose();
}
