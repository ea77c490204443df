using System.Globalization;
using Strata.Qemu;

namespace Strata.Node.Drivers.Sandbox;

/// <summary>
/// What the guest's init wrote on its control port (<c>&lt;instanceDir&gt;/control</c>): the workload's exit
/// code, a failure, and guest-uptime marks for the start-up breakdown.
/// </summary>
/// <param name="KernelSeconds">Guest uptime when init began: the kernel's boot time.</param>
/// <param name="WorkloadSeconds">Guest uptime when init started the workload.</param>
/// <param name="ExitSeconds">Guest uptime when the workload had ended.</param>
/// <param name="SetupSeconds">A start from a template: guest uptime when the resumed guest had read its parameters.</param>
public sealed record SandboxGuestReport(int? ExitCode, string? Failure, double? KernelSeconds, double? WorkloadSeconds, double? ExitSeconds, double? SetupSeconds = null)
{
    /// <summary>The control port's report as <see cref="QemuVm.ReadGuestReport"/> parses it for every Strata guest.</summary>
    public static SandboxGuestReport Read(string controlPath)
    {
        var r = QemuVm.ReadGuestReport(controlPath);
        return new SandboxGuestReport(r.ExitCode, r.Failure, r.KernelSeconds, r.WorkloadSeconds, r.ExitSeconds, r.SetupSeconds);
    }

    /// <summary>
    /// "total 3412 ms = qemu 410 + kernel 2210 + init 520 + workload 272" (host wall time from the launch to
    /// QEMU's exit; the qemu part is QEMU's own start and shutdown: total minus the guest's uptime at exit).
    /// </summary>
    public string Breakdown(TimeSpan total)
    {
        if (SetupSeconds is { } s && WorkloadSeconds is { } sw && ExitSeconds is { } se)
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"total {total.TotalMilliseconds:0} ms from a template; in the guest: setup {(sw - s) * 1000:0} + workload {(se - sw) * 1000:0}");
        }
        if (KernelSeconds is not { } k || WorkloadSeconds is not { } w || ExitSeconds is not { } e)
        {
            return $"total {total.TotalMilliseconds:0} ms (the guest reported no timing marks)";
        }
        var qemu = total.TotalMilliseconds - e * 1000;
        return string.Create(CultureInfo.InvariantCulture,
            $"total {total.TotalMilliseconds:0} ms = qemu {qemu:0} + kernel {k * 1000:0} + init {(w - k) * 1000:0} + workload {(e - w) * 1000:0}");
    }
}
