using System.Globalization;
using Strata.Qemu.Guest;

namespace Strata.Node.Drivers.Sandbox;

/// <summary>
/// What the guest's init wrote on its control port (<c>&lt;instanceDir&gt;/control</c>): the workload's exit
/// code, a failure, and guest-uptime marks for the start-up breakdown.
/// </summary>
/// <param name="KernelSeconds">Guest uptime when init began: the kernel's boot time.</param>
/// <param name="WorkloadSeconds">Guest uptime when init started the workload.</param>
/// <param name="ExitSeconds">Guest uptime when the workload had ended.</param>
public sealed record SandboxGuestReport(int? ExitCode, string? Failure, double? KernelSeconds, double? WorkloadSeconds, double? ExitSeconds)
{
    public static SandboxGuestReport Read(string controlPath)
    {
        if (!File.Exists(controlPath))
        {
            return new SandboxGuestReport(null, null, null, null, null);
        }
        int? code = null;
        string? failure = null;
        double? kernel = null, workload = null, exit = null;
        foreach (var raw in File.ReadLines(controlPath))
        {
            var line = raw.TrimEnd('\r');
            if (line.StartsWith(GuestInit.ExitPrefix, StringComparison.Ordinal)
                && int.TryParse(line.AsSpan(GuestInit.ExitPrefix.Length), NumberStyles.Integer, CultureInfo.InvariantCulture, out var c))
            {
                code = c;
            }
            else if (line.StartsWith(GuestInit.FailPrefix, StringComparison.Ordinal))
            {
                failure = line[GuestInit.FailPrefix.Length..];
            }
            else if (line.StartsWith(GuestInit.TimePrefix, StringComparison.Ordinal))
            {
                var parts = line[GuestInit.TimePrefix.Length..].Split(' ');
                if (parts.Length == 2 && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var t))
                {
                    switch (parts[0])
                    {
                        case "kernel": kernel = t; break;
                        case "workload": workload = t; break;
                        case "exit": exit = t; break;
                    }
                }
            }
        }
        return new SandboxGuestReport(code, failure, kernel, workload, exit);
    }

    /// <summary>
    /// "total 3412 ms = qemu 410 + kernel 2210 + init 520 + workload 272" (host wall time from the launch to
    /// QEMU's exit; the qemu part is QEMU's own start and shutdown: total minus the guest's uptime at exit).
    /// </summary>
    public string Breakdown(TimeSpan total)
    {
        if (KernelSeconds is not { } k || WorkloadSeconds is not { } w || ExitSeconds is not { } e)
        {
            return $"total {total.TotalMilliseconds:0} ms (the guest reported no timing marks)";
        }
        var qemu = total.TotalMilliseconds - e * 1000;
        return string.Create(CultureInfo.InvariantCulture,
            $"total {total.TotalMilliseconds:0} ms = qemu {qemu:0} + kernel {k * 1000:0} + init {(w - k) * 1000:0} + workload {(e - w) * 1000:0}");
    }
}
