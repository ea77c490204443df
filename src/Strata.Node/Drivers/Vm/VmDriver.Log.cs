using Microsoft.Extensions.Logging;

namespace Strata.Node.Drivers.Vm;

// The vm tier's log lines: EventIds 3500-3599 (docs/contributing.md, "Logging").
public sealed partial class VmDriver
{
    [LoggerMessage(EventId = 3501, Level = LogLevel.Information,
        Message = "vm {Name} ({Instance}) created from {Image} ({Kind} boot): {Accel}, {MemoryMiB} MiB, {Cpus} vCPUs, network {Network}")]
    private partial void LogCreated(string name, string instance, string image, string kind, string accel, int memoryMiB, int cpus, string network);

    [LoggerMessage(EventId = 3502, Level = LogLevel.Debug, Message = "vm {Instance} started: QEMU pid {Pid}, from {Start}")]
    private partial void LogStarted(string instance, int pid, string start);

    [LoggerMessage(EventId = 3503, Level = LogLevel.Debug, Message = "vm {Instance} deleted: QEMU ended, overlay, sockets and network removed")]
    private partial void LogDeleted(string instance);

    [LoggerMessage(EventId = 3504, Level = LogLevel.Information, Message = "vm {Instance}: snapshot {Tag} saved in its overlay ({Bytes} bytes added)")]
    private partial void LogSnapshotWritten(string instance, string tag, long bytes);
}

// Live moves (VmDriver.Move.cs).
public sealed partial class VmDriver
{
    [LoggerMessage(EventId = 3505, Level = LogLevel.Information, Message = "vm {Instance}: receiving a live move, QEMU pid {Pid} waits on {RamUri}")]
    private partial void LogIncoming(string instance, int pid, string ramUri);

    [LoggerMessage(EventId = 3506, Level = LogLevel.Information,
        Message = "vm {Instance} moved out in {Seconds:0.00} s (QEMU downtime {DowntimeMs} ms, {RamBytes} bytes of RAM, {DiskBytes} bytes of disk)")]
    private partial void LogMovedOut(string instance, double seconds, double downtimeMs, long ramBytes, long diskBytes);

    [LoggerMessage(EventId = 3507, Level = LogLevel.Warning, Message = "vm {Instance}: a live move the previous daemon did not finish was undone: {Undone}")]
    private partial void LogMoveAbandoned(string instance, string undone);
}
