using Microsoft.Extensions.Logging;

namespace Strata.Node.Drivers.Container;

// The container tier's log lines: EventIds 3300-3399 (docs/contributing.md, "Logging").
public sealed partial class ContainerDriver
{
    [LoggerMessage(EventId = 3301, Level = LogLevel.Information, Message = "container tier uses {Runtime}: {Reason}; also tried: {Others}")]
    private partial void LogRuntimeChosen(string runtime, string reason, string others);

    [LoggerMessage(EventId = 3302, Level = LogLevel.Warning, Message = "container tier has no working OCI runtime: {Report}")]
    private partial void LogNoRuntime(string report);

    [LoggerMessage(EventId = 3303, Level = LogLevel.Information,
        Message = "container {Name} ({Instance}) created from image {Image} ({Digest}); network {Network}, runtime {Runtime}")]
    private partial void LogCreated(string name, string instance, string image, string digest, string network, string runtime);

    [LoggerMessage(EventId = 3304, Level = LogLevel.Debug, Message = "container {Instance} started: pid {Pid} under supervisor {SupervisorPid}")]
    private partial void LogStarted(string instance, int pid, int supervisorPid);

    [LoggerMessage(EventId = 3305, Level = LogLevel.Warning, Message = "container {Instance}: {Runtime} still had state of an earlier run (its runtime was killed); removed before the start")]
    private partial void LogStaleRuntimeState(string instance, string runtime);

    [LoggerMessage(EventId = 3306, Level = LogLevel.Debug, Message = "container {Instance} deleted: runtime state, overlay, network and cgroups removed")]
    private partial void LogDeleted(string instance);

    [LoggerMessage(EventId = 3307, Level = LogLevel.Information, Message = "container {Instance}: writable layer saved to {Path} ({Bytes} bytes; frozen meanwhile: {Paused})")]
    private partial void LogSnapshotWritten(string instance, string path, long bytes, bool paused);

    [LoggerMessage(EventId = 3308, Level = LogLevel.Information, Message = "container {Instance}: writable layer restored from {Path}")]
    private partial void LogRestored(string instance, string path);

    [LoggerMessage(EventId = 3309, Level = LogLevel.Information, Message = "container {Instance} connected to network {Network}")]
    private partial void LogNetworkConnected(string instance, string network);

    [LoggerMessage(EventId = 3310, Level = LogLevel.Information, Message = "container {Instance} disconnected from network {Network}")]
    private partial void LogNetworkDisconnected(string instance, string network);

    [LoggerMessage(EventId = 3311, Level = LogLevel.Information, Message = "container {Instance} resized: memory {MemoryBytes} bytes, cpus {Cpus} (-1: unchanged); live: {Live}")]
    private partial void LogResized(string instance, long memoryBytes, double cpus, bool live);
}
