using Microsoft.Extensions.Logging;

namespace Strata.Node.Drivers.Process;

// The process tier's log lines: EventIds 3200-3299 (docs/contributing.md, "Logging").
public sealed partial class ProcessDriver
{
    [LoggerMessage(EventId = 3201, Level = LogLevel.Information, Message = "process {Name} ({Instance}) created: runs {Command} on the host; own cgroups: {Tracked}")]
    private partial void LogCreated(string name, string instance, string command, bool tracked);

    [LoggerMessage(EventId = 3202, Level = LogLevel.Debug, Message = "process {Instance} started: pid {Pid} under supervisor {SupervisorPid}")]
    private partial void LogStarted(string instance, int pid, int supervisorPid);

    [LoggerMessage(EventId = 3203, Level = LogLevel.Debug, Message = "process {Instance} deleted: its processes ended and its cgroups removed")]
    private partial void LogDeleted(string instance);

    [LoggerMessage(EventId = 3204, Level = LogLevel.Warning, Message = "process {Instance} runs without a cgroup ({Why}): a process it moves out of its process group (setsid, a daemon that detaches) is not found by stop, kill or rm -f")]
    private partial void LogUntracked(string instance, string why);
}
