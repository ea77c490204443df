using Strata.Contracts.Drivers;

namespace Strata.Control;

/// <summary>The interactive console of a running instance (tiers that have one: vm).</summary>
public sealed partial class InstanceService
{
    /// <summary>Throws what <see cref="OpenConsoleAsync"/> would throw before touching the workload (unknown instance, no console, not running).</summary>
    public void CheckConsole(string project, string name) => Running<IConsoleDriver>(project, name, "attach to the console of", "console");

    /// <summary>Attaches to the console; dispose the stream to detach.</summary>
    public Task<Stream> OpenConsoleAsync(string project, string name, CancellationToken cancellationToken)
    {
        var (record, driver) = Running<IConsoleDriver>(project, name, "attach to the console of", "console");
        return driver.OpenConsoleAsync(record.Handle!, cancellationToken);
    }
}
