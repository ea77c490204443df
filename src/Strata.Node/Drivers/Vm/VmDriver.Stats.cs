using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Stats;

namespace Strata.Node.Drivers.Vm;

/// <summary>
/// Usage of a running VM (<see cref="GuestUsage"/>): QEMU's CPU time and host memory, and the guest's own figures
/// from its balloon driver over the VM's one QMP connection. The limit is the memory the balloon leaves the guest.
/// </summary>
public sealed partial class VmDriver : IStatsDriver
{
    private readonly GuestUsage _usage = new();

    public async Task<UsageReading> ReadUsageAsync(DriverHandle handle, CancellationToken cancellationToken) =>
        (await ReadGuestUsageAsync(handle, cancellationToken).ConfigureAwait(false)).ToUsageReading();

    public Task<InstanceStats> StatsAsync(DriverHandle handle, CancellationToken cancellationToken) =>
        _usage.StatsAsync(handle, ct => ReadGuestUsageAsync(handle, ct), TimeSpan.FromMilliseconds(250), cancellationToken);

    /// <summary>QEMU and the helpers it started (virtiofsd), as the host sees them.</summary>
    public Task<IReadOnlyList<ProcessEntry>> TopAsync(DriverHandle handle, CancellationToken cancellationToken) =>
        HostProcesses.TopOf(handle.Pid);

    private Task<GuestUsageReading> ReadGuestUsageAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        if (!IsRunning(handle))
        {
            throw StrataException.Conflict("the VM is not running");
        }
        var socket = QmpSocket(handle);
        var config = ReadConfig(handle);
        // An OCI image boots Strata's init, whose control port says when the workload started; a full OS says nothing.
        var control = config.Kind == VmKinds.Oci ? Path.Combine(handle.Directory, ControlFileName) : null;
        return _usage.ReadAsync(handle, socket, control, config.MemoryMiB * 1024L * 1024, expectGuest: true,
            work => _qmp.UseAsync(socket, TimeSpan.FromSeconds(2), work, cancellationToken), cancellationToken);
    }
}
