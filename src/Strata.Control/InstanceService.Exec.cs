using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Control;

/// <summary>Inside running instances: exec, stats, top (tiers that have the capability).</summary>
public sealed partial class InstanceService
{
    /// <summary>Runs a command in a running instance; output goes to <paramref name="output"/> as it comes. Returns its exit code.</summary>
    public async Task<int> ExecAsync(string project, string name, ExecRequest request, Func<string, ReadOnlyMemory<byte>, ValueTask> output, CancellationToken cancellationToken)
    {
        var (record, driver) = Running<IExecDriver>(project, name, "exec in", "exec");
        return await driver.ExecAsync(record.Handle!, request, output, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts a command attached to the caller's input (exec -i), on a terminal with <see cref="ExecRequest.Tty"/> (exec -t).
    /// Only tiers with <see cref="IInteractiveExecDriver"/> (container, sandbox) can; others answer 400 saying so.
    /// </summary>
    public async Task<ExecSession> StartExecAsync(string project, string name, ExecRequest request, ushort columns, ushort rows, CancellationToken cancellationToken)
    {
        var record = Get(project, name);
        if (_drivers.Find(record.Tier) is not IInteractiveExecDriver)
        {
            var plain = _drivers.Find(record.Tier) is IExecDriver ? $"; without -i/-t exec works on the {record.Tier.ToName()} tier (output and exit code only)" : "";
            throw StrataException.Invalid("tty", $"exec -i/-t (input and terminal) is supported on the container tier and the sandbox tier, not on the {record.Tier.ToName()} tier{plain}");
        }
        var (running, driver) = Running<IInteractiveExecDriver>(project, name, "exec in", "exec -i/-t");
        return await driver.StartExecAsync(running.Handle!, request, columns, rows, cancellationToken).ConfigureAwait(false);
    }

    public async Task<InstanceStats> StatsAsync(string project, string name, CancellationToken cancellationToken)
    {
        var (record, driver) = Running<IStatsDriver>(project, name, "read stats of", "stats");
        var stats = await driver.StatsAsync(record.Handle!, cancellationToken).ConfigureAwait(false);
        return stats with { Name = name };
    }

    public async Task<ProcessList> TopAsync(string project, string name, CancellationToken cancellationToken)
    {
        var (record, driver) = Running<IStatsDriver>(project, name, "list processes of", "top");
        return new ProcessList(name, await driver.TopAsync(record.Handle!, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>
    /// The runtime configuration of a created instance (the container tier's OCI <c>config.json</c>); any state
    /// but removed, since the file is written at create time.
    /// </summary>
    public async Task<string> RuntimeConfigAsync(string project, string name, CancellationToken cancellationToken)
    {
        var record = Get(project, name);
        if (_drivers.Find(record.Tier) is not IRuntimeConfigDriver driver)
        {
            throw StrataException.Invalid("tier", $"the {record.Tier.ToName()} tier hands no runtime configuration to an external runtime; only container instances have one");
        }
        if (record.Handle is null)
        {
            throw StrataException.Conflict($"instance '{name}' has no runtime configuration: it is {record.State.ToName()} and was never created by its driver");
        }
        return await driver.RuntimeConfigAsync(record.Handle, cancellationToken).ConfigureAwait(false);
    }

    private (Store.InstanceRecord Record, T Driver) Running<T>(string project, string name, string verb, string capability) where T : class
    {
        var record = Get(project, name);
        if (_drivers.Find(record.Tier) is not T driver)
        {
            throw StrataException.Invalid("tier", $"the {record.Tier.ToName()} tier does not support {capability}");
        }
        if (!record.State.IsActive() || record.Handle is null)
        {
            throw StrataException.Conflict($"cannot {verb} instance '{name}': it is {record.State.ToName()}, not running; start it first");
        }
        return (record, driver);
    }
}
