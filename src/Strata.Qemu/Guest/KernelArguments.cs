using System.Globalization;
using System.Text;
using Strata.Contracts;

namespace Strata.Qemu.Guest;

/// <summary>
/// The kernel command line of a Strata guest: the console (ttyS0; ttyAMA0 on arm64's virt), <c>quiet panic=-1
/// reboot=t</c> (a finished workload reboots, which ends QEMU), the TSC rate under TCG on x86 (see <see cref="HostTsc"/>),
/// the root disk, the workload, the exec agent, mounts, the network and extra arguments, in that order; refused when
/// longer than the kernel keeps.
/// </summary>
public sealed record KernelArguments
{
    public required QemuMachine Machine { get; init; }
    public string Accel { get; init; } = Accelerators.Tcg;
    public required GuestWorkload Workload { get; init; }
    /// <summary>The guest runs on a root disk (<c>strata.root=/dev/vda</c>).</summary>
    public bool RootDisk { get; init; }
    /// <summary>Init starts the exec agent on the <c>strata.exec</c> port (<c>strata.exec=1</c>, root disk only).</summary>
    public bool ExecAgent { get; init; }
    /// <summary>Under TCG on x86, the guest's TSC rate; null: <see cref="HostTsc.KHz"/>.</summary>
    public long? TscKHz { get; init; }
    public IReadOnlyList<GuestMount> Mounts { get; init; } = [];
    /// <summary>The shares are plugged into PCIe slots after a restore (<c>strata.fsplug=1</c>): init turns the slots on first.</summary>
    public bool MountsHotplugged { get; init; }
    public GuestNetwork? Network { get; init; }
    /// <summary>The guest's hostname (<c>strata.hostname=</c>); letters, digits, '-', '.', '_'.</summary>
    public string? Hostname { get; init; }
    public string? Extra { get; init; }

    public string Build()
    {
        var all = Head() + " " + GuestWords();
        if (all.Length > QemuVm.MaxKernelCommandLine)
        {
            throw StrataException.Invalid(Mounts.Count > 0 ? "mounts" : "command",
                $"the guest kernel command line would be {all.Length} bytes, more than the {QemuVm.MaxKernelCommandLine} it can carry; shorten the command, environment or mount paths");
        }
        return all;
    }

    /// <summary>What every guest of this machine shares: console, panic and reboot behaviour, the TSC rate under TCG.</summary>
    public string Head()
    {
        // virt's serial port is a PL011 (ttyAMA0), and it has no TSC to calibrate.
        var x86 = Machine != QemuMachine.Virt;
        var head = new StringBuilder(x86 ? "console=ttyS0" : "console=ttyAMA0").Append(" quiet panic=-1 reboot=t");
        if (x86 && Accel == Accelerators.Tcg && (TscKHz ?? HostTsc.KHz) is long tsc)
        {
            // Under TCG the guest TSC runs at the host's rate; without this the kernel may hang calibrating against the PIT.
            head.Append(" tsc_early_khz=").Append(tsc.ToString(CultureInfo.InvariantCulture));
        }
        return head.ToString();
    }

    /// <summary>
    /// The instance's own words (root disk, workload, exec agent, mounts, network, hostname, extra): on the kernel
    /// command line of a cold boot, on the setup port of a template's restore.
    /// </summary>
    public string GuestWords()
    {
        var append = new StringBuilder();
        if (RootDisk)
        {
            append.Append(" strata.root=/dev/vda");
        }
        append.Append(' ').Append(Workload.ToKernelArgument());
        if (ExecAgent)
        {
            append.Append(" strata.exec=1");
        }
        if (Mounts.Count > 0)
        {
            append.Append(' ').Append(GuestMount.ToKernelArgument(Mounts));
            if (MountsHotplugged)
            {
                append.Append(" strata.fsplug=1");
            }
        }
        if (Network is not null)
        {
            append.Append(' ').Append(Network.ToKernelArgument());
        }
        if (Hostname is { Length: > 0 } hostname)
        {
            if (hostname.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_')))
            {
                throw StrataException.Invalid("name", $"'{hostname}' is not a hostname (letters, digits, '-', '.', '_')");
            }
            append.Append(" strata.hostname=").Append(hostname);
        }
        if (!string.IsNullOrWhiteSpace(Extra))
        {
            append.Append(' ').Append(Extra);
        }
        return append.ToString().Trim();
    }
}
