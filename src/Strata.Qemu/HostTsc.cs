using System.Globalization;
using System.Text.RegularExpressions;

namespace Strata.Qemu;

/// <summary>
/// The host's TSC rate, which a TCG guest's TSC runs at (QEMU's TCG reads the host's counter).
/// Why it matters: under TCG on a busy host the guest kernel's TSC calibration against the emulated
/// PIT fails ("Unable to calibrate against PIT"), and a microvm has no HPET or ACPI PM timer to fall
/// back on, so the boot hangs. Passing <c>tsc_early_khz=</c> skips that calibration.
/// </summary>
public static partial class HostTsc
{
    public const string EnvironmentVariable = "STRATA_GUEST_TSC_KHZ";

    private static readonly Lazy<long?> Detected = new(() => Detect(Environment.GetEnvironmentVariable(EnvironmentVariable), ReadCpuInfo()));

    /// <summary>The host TSC rate in kHz, or null when it cannot be told (then the guest calibrates itself).</summary>
    public static long? KHz => Detected.Value;

    /// <summary>
    /// In order: the override variable; the nominal rate in the CPU's model name ("@ 2.10GHz", which is
    /// the TSC rate on CPUs with an invariant TSC); the first "cpu MHz" line.
    /// </summary>
    internal static long? Detect(string? overrideValue, string? cpuInfo)
    {
        if (long.TryParse(overrideValue, NumberStyles.None, CultureInfo.InvariantCulture, out var fixedKHz) && fixedKHz > 0)
        {
            return fixedKHz;
        }
        if (string.IsNullOrEmpty(cpuInfo))
        {
            return null;
        }
        var nominal = NominalRate().Match(cpuInfo);
        if (nominal.Success && double.TryParse(nominal.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var ghz) && ghz > 0)
        {
            return (long)Math.Round(ghz * 1_000_000);
        }
        var mhz = CpuMHz().Match(cpuInfo);
        if (mhz.Success && double.TryParse(mhz.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var m) && m > 0)
        {
            return (long)Math.Round(m * 1000);
        }
        return null;
    }

    private static string? ReadCpuInfo()
    {
        try
        {
            return File.ReadAllText("/proc/cpuinfo");
        }
        catch (IOException)
        {
            return null;
        }
    }

    [GeneratedRegex(@"^model name\s*:.*@\s*([0-9.]+)\s*GHz", RegexOptions.Multiline)]
    private static partial Regex NominalRate();

    [GeneratedRegex(@"^cpu MHz\s*:\s*([0-9.]+)", RegexOptions.Multiline)]
    private static partial Regex CpuMHz();
}
