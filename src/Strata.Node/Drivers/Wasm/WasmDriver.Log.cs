using Microsoft.Extensions.Logging;

namespace Strata.Node.Drivers.Wasm;

// The wasm tier's log lines: EventIds 3600-3699 (docs/contributing.md, "Logging").
public sealed partial class WasmDriver
{
    [LoggerMessage(EventId = 3601, Level = LogLevel.Information, Message = "wasm {Name} ({Instance}) created: module {Module} ({Digest}, {Kind})")]
    private partial void LogCreated(string name, string instance, string module, string digest, string kind);

    [LoggerMessage(EventId = 3602, Level = LogLevel.Debug, Message = "wasm {Instance} started: module {Digest}, restored from {Snapshot}")]
    private partial void LogStarted(string instance, string digest, string snapshot);

    [LoggerMessage(EventId = 3603, Level = LogLevel.Debug, Message = "wasm {Instance} ended with exit code {ExitCode}: {Reason}")]
    private partial void LogExited(string instance, int exitCode, string reason);

    [LoggerMessage(EventId = 3604, Level = LogLevel.Information, Message = "wasm {Instance}: memory snapshot written to {Directory} ({Bytes} bytes)")]
    private partial void LogSnapshotWritten(string instance, string directory, long bytes);
}
