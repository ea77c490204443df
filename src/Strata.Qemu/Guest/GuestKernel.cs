using Strata.Contracts;

namespace Strata.Qemu.Guest;

/// <summary>A guest kernel and the modules built for it.</summary>
/// <param name="KernelPath">The bzImage QEMU boots directly.</param>
/// <param name="Release">Its release, e.g. <c>6.1.0-56-cloud-amd64</c>.</param>
/// <param name="ModulesDirectory"><c>/lib/modules/RELEASE</c>, or null when the kernel has no modules installed.</param>
public sealed record GuestKernelInfo(string KernelPath, string Release, string? ModulesDirectory);

/// <summary>Finds the kernel Strata boots guests with.</summary>
public static class GuestKernel
{
    public const string EnvironmentVariable = "STRATA_GUEST_KERNEL";
    public const string Package = "linux-image-cloud-amd64";

    /// <summary>
    /// <c>STRATA_GUEST_KERNEL</c> if set, else the newest installed Debian cloud kernel
    /// (<c>/boot/vmlinuz-*-cloud-amd64</c>). Throws <see cref="ErrorKind.Unavailable"/> naming the package to install.
    /// </summary>
    public static GuestKernelInfo Locate() => Locate(Environment.GetEnvironmentVariable(EnvironmentVariable), "/boot", "/lib/modules");

    internal static GuestKernelInfo Locate(string? overridePath, string bootDirectory, string modulesRoot)
    {
        if (!string.IsNullOrEmpty(overridePath))
        {
            if (!File.Exists(overridePath))
            {
                throw new StrataException(ErrorKind.Unavailable,
                    $"{EnvironmentVariable} names {overridePath}, which does not exist; point it at a kernel image or unset it to use {Package}");
            }
            return Describe(overridePath, modulesRoot);
        }
        var candidates = Directory.Exists(bootDirectory)
            ? Directory.GetFiles(bootDirectory, "vmlinuz-*-cloud-amd64")
            : [];
        if (candidates.Length == 0)
        {
            throw new StrataException(ErrorKind.Unavailable,
                $"no guest kernel found (looked for {bootDirectory}/vmlinuz-*-cloud-amd64); install it with 'apt-get install {Package}' or set {EnvironmentVariable}");
        }
        // Newest release wins; Debian's release strings sort correctly with a version-aware compare.
        var newest = candidates.OrderBy(p => ReleaseOf(p), ReleaseComparer.Instance).Last();
        return Describe(newest, modulesRoot);
    }

    private static GuestKernelInfo Describe(string kernelPath, string modulesRoot)
    {
        var release = ReleaseOf(kernelPath);
        var modules = Path.Combine(modulesRoot, release);
        return new GuestKernelInfo(kernelPath, release, Directory.Exists(modules) ? modules : null);
    }

    private static string ReleaseOf(string kernelPath)
    {
        var name = Path.GetFileName(kernelPath);
        return name.StartsWith("vmlinuz-", StringComparison.Ordinal) ? name["vmlinuz-".Length..] : name;
    }

    private sealed class ReleaseComparer : IComparer<string>
    {
        public static readonly ReleaseComparer Instance = new();

        public int Compare(string? x, string? y)
        {
            var a = (x ?? "").Split('.', '-');
            var b = (y ?? "").Split('.', '-');
            for (var i = 0; i < Math.Min(a.Length, b.Length); i++)
            {
                var c = int.TryParse(a[i], out var na) && int.TryParse(b[i], out var nb)
                    ? na.CompareTo(nb)
                    : string.CompareOrdinal(a[i], b[i]);
                if (c != 0)
                {
                    return c;
                }
            }
            return a.Length.CompareTo(b.Length);
        }
    }
}
