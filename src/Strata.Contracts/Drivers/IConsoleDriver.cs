namespace Strata.Contracts.Drivers;

/// <summary>
/// Optional capability: the workload's interactive console (<c>strata console</c>), e.g. a VM's serial port.
/// The console keeps writing to the instance's log whether or not anyone is attached.
/// </summary>
public interface IConsoleDriver
{
    /// <summary>
    /// Attaches to the running workload's console: reads are its output, writes are its input; disposing the
    /// stream detaches. Throws Conflict when the workload is not running or someone else is attached.
    /// </summary>
    Task<Stream> OpenConsoleAsync(DriverHandle handle, CancellationToken cancellationToken);
}
