namespace Strata.Policy.Advisor;

/// <summary>
/// Canonical names for operating systems and CPU architectures, so that <c>x86_64</c> on the host and
/// <c>amd64</c> in a workload file are recognised as the same thing.
/// </summary>
public static class Platform
{
    /// <summary>The operating systems a workload may ask for (the vm tier boots any of them from a disk image).</summary>
    public static readonly IReadOnlyList<string> KnownOs = ["linux", "windows", "freebsd", "openbsd", "netbsd", "illumos"];

    /// <summary>The canonical architecture names a workload may ask for.</summary>
    public static readonly IReadOnlyList<string> KnownArch = ["amd64", "arm64", "386", "arm", "riscv64", "ppc64le", "s390x"];

    /// <summary>Canonical OS name, or null when it is not one Strata knows.</summary>
    public static string? NormalizeOs(string? os)
    {
        var value = os?.Trim().ToLowerInvariant();
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }
        // Hosts report names like "Debian GNU/Linux 12" or "Microsoft Windows NT 10.0".
        foreach (var known in KnownOs)
        {
            if (value == known || value.Contains(known, StringComparison.Ordinal))
            {
                return known;
            }
        }
        return null;
    }

    /// <summary>Canonical architecture name (<c>x86_64</c> → <c>amd64</c>, <c>aarch64</c> → <c>arm64</c>), or null when unknown.</summary>
    public static string? NormalizeArch(string? arch) => arch?.Trim().ToLowerInvariant() switch
    {
        "amd64" or "x86_64" or "x64" or "x86-64" => "amd64",
        "arm64" or "aarch64" => "arm64",
        "386" or "i386" or "i686" or "x86" => "386",
        "arm" or "armv7l" or "armhf" or "armv7" => "arm",
        "riscv64" => "riscv64",
        "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        _ => null,
    };
}
