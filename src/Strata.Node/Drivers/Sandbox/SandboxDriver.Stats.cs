using System.Text.Json.Nodes;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Stats;
using Strata.Node.Supervision;
using Strata.Qemu;
using Strata.Qemu.Qmp;

namespace Strata.Node.Drivers.Sandbox;

/// <summary>
/// Usage and live resize of a running sandbox. Usage is read as on the vm tier (<see cref="GuestUsage"/>), over a QMP
/// connection opened for the reading and closed at once: the sandbox's stop opens its own to press the power button,
/// and QEMU serves one client at a time.
///
/// Memory shrinks and grows (up to the boot size) through the balloon, but only on a sandbox whose RAM is its own: a
/// start from a template maps the template's memory file, where QEMU 7.2 would punch the ballooned pages out of the
/// file under every other clone (docs/sandbox.md#templates), and its guest has no balloon driver. microvm has no CPU
/// hot-plug, so the vCPU count stays what the sandbox was created with.
/// </summary>
public sealed partial class SandboxDriver
{
    /// <summary>Handle key: this run's RAM is the template's memory file (a start from a template).</summary>
    internal const string TemplateRamKey = "templateRam";

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
        RequireRunning(handle);
        var socket = Path.Combine(handle.Directory, QmpSocketName);
        return _usage.ReadAsync(handle, socket, Path.Combine(handle.Directory, ControlFileName), SandboxWorkload.Load(handle.Directory).MemoryMiB * 1024L * 1024, expectGuest: !handle.Data.ContainsKey(TemplateRamKey),
            work => WithQmpAsync(socket, work, cancellationToken), cancellationToken);
    }

    public async Task<ResizeResult> ResizeAsync(DriverHandle handle, long? memoryBytes, double? cpus, CancellationToken cancellationToken)
    {
        RequireRunning(handle);
        var workload = SandboxWorkload.Load(handle.Directory);
        var maxBytes = workload.MemoryMiB * 1024L * 1024;
        if (TierResizeRange.WholeVcpus(cpus, "sandbox") is { } want && want != workload.Cpus)
        {
            throw StrataException.Invalid("cpus", $"a sandbox keeps the {workload.Cpus} vCPU(s) it was created with (QEMU's microvm has no CPU hot-plug); recreate it with --cpus {want}");
        }
        if (memoryBytes is { } mem && (mem < SandboxWorkload.MinimumMemoryMiB * 1024L * 1024 || mem > maxBytes))
        {
            throw StrataException.Invalid("memoryBytes", $"a sandbox's memory can change between {SandboxWorkload.MinimumMemoryMiB} MiB and the {workload.MemoryMiB} MiB it booted with (the balloon cannot add memory beyond that)");
        }
        if (memoryBytes is not null && handle.Data.ContainsKey(TemplateRamKey))
        {
            throw StrataException.Conflict("this sandbox started from its image's template and shares the template's memory file, which the balloon would damage; " +
                "restart it with 'strata run --no-template' (or recreate it) to resize its memory");
        }
        if (memoryBytes is { } shrink && shrink < maxBytes
            && await _usage.NeedsMoreThanAsync(handle, shrink, ct => ReadGuestUsageAsync(handle, ct), cancellationToken).ConfigureAwait(false) is { } needs)
        {
            throw StrataException.Invalid("memoryBytes", needs);
        }
        var socket = Path.Combine(handle.Directory, QmpSocketName);
        var actual = await WithQmpAsync(socket, async qmp =>
        {
            if (memoryBytes is { } target)
            {
                if (await BalloonStats.FindAsync(qmp, cancellationToken).ConfigureAwait(false) is null)
                {
                    throw StrataException.Conflict("this sandbox has no balloon device (every virtio slot of the microvm is taken by its mounts and network); its memory cannot change while it runs");
                }
                await qmp.ExecuteAsync("balloon", new JsonObject { ["value"] = target }, cancellationToken).ConfigureAwait(false);
            }
            async Task<long> Actual()
            {
                var query = await qmp.ExecuteAsync("query-balloon", null, cancellationToken).ConfigureAwait(false);
                return GuestRam.Visible(query, maxBytes);
            }
            return memoryBytes is { } wanted
                ? await BalloonStats.SettleAsync(Actual, wanted, BalloonStats.SettleWithin, cancellationToken).ConfigureAwait(false)
                : await Actual().ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        var note = memoryBytes is { } asked && Math.Abs(actual - asked) >= 1024 * 1024
            ? $"the guest is still giving memory back: it has {actual / (1024 * 1024)} MiB of the {asked / (1024 * 1024)} MiB asked"
            : null;
        return new ResizeResult(actual, maxBytes, workload.Cpus, workload.Cpus, note);
    }

    private static void RequireRunning(DriverHandle handle)
    {
        if (!SupervisedRuntime.SupervisorAlive(handle) || File.Exists(Path.Combine(handle.Directory, ExitFileName)))
        {
            throw StrataException.Conflict("the sandbox is not running; start it first");
        }
    }

    /// <summary>A QMP connection for one piece of work, closed after it.</summary>
    private static async Task<T> WithQmpAsync<T>(string socket, Func<QmpClient, Task<T>> work, CancellationToken cancellationToken)
    {
        var qmp = await QmpClient.ConnectAsync(socket, TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
        await using (qmp.ConfigureAwait(false))
        {
            try
            {
                return await work(qmp).ConfigureAwait(false);
            }
            catch (QmpException e)
            {
                throw e.ToStrataException("QMP");
            }
        }
    }
}
