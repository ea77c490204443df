using Strata.Contracts;

namespace Strata.Qemu.Guest;

/// <summary>
/// Where the arm64 guest assets live: Debian's arm64 cloud kernel, its modules and arm64 busybox-static, as
/// <c>scripts/fetch-arm64-guest.sh</c> lays them out (an amd64 Debian host cannot install arm64 packages with plain apt).
/// </summary>
public static class Arm64Guest
{
    public const string EnvironmentVariable = "STRATA_ARM64_GUEST_DIR";
    public const string DefaultDirectory = "/usr/local/share/strata/guest/arm64";
    public const string FetchHint = "run scripts/fetch-arm64-guest.sh (as root) to download Debian's arm64 kernel and busybox";

    /// <summary><c>STRATA_ARM64_GUEST_DIR</c>, else <see cref="DefaultDirectory"/>.</summary>
    public static string Directory =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } dir ? dir : DefaultDirectory;

    public static string BusyboxPath(string directory) => Path.Combine(directory, "busybox");

    /// <summary>The newest <c>vmlinuz-*-arm64</c> in <paramref name="directory"/>, else null.</summary>
    public static string? FindKernel(string directory) =>
        System.IO.Directory.Exists(directory)
            ? System.IO.Directory.GetFiles(directory, "vmlinuz-*-arm64").Order(StringComparer.Ordinal).LastOrDefault()
            : null;

    /// <summary>The kernel with its modules (<c>lib/modules/RELEASE</c> next to it); throws naming the fetch script.</summary>
    public static GuestKernelInfo LocateKernel(string directory)
    {
        var kernel = FindKernel(directory)
            ?? throw new StrataException(ErrorKind.Unavailable, $"there is no arm64 guest kernel in {directory}; {FetchHint}");
        var release = Path.GetFileName(kernel)["vmlinuz-".Length..];
        var modules = Path.Combine(directory, "lib", "modules", release);
        return new GuestKernelInfo(kernel, release, System.IO.Directory.Exists(modules) ? modules : null);
    }

    /// <summary>arm64 busybox-static; throws naming the fetch script.</summary>
    public static string LocateBusybox(string directory)
    {
        var path = BusyboxPath(directory);
        return File.Exists(path) ? path : throw new StrataException(ErrorKind.Unavailable, $"there is no arm64 busybox at {path}; {FetchHint}");
    }
}
