using Microsoft.Extensions.Logging;

namespace Strata.Node.Drivers.Process;

// The process tier's log lines: EventIds 3200-3299 (docs/contributing.md, "Logging").
public sealed partial class ProcessDriver
{
    [LoggerMessage(EventId = 3201, Level = LogLevel.Information, Message = "process {Name} ({Instance}) created: runs {Command} on the host; own cgroups: {Limited}")]
    private partial void LogCreated(string name, string instance, string command, bool limited);

    [LoggerMessage(EventId = 3202, Level = LogLevel.Debug, Message = "process {Instance} started: pid {Pid} under supervisor {SupervisorPid}")]
    private partial void LogStarted(string instance, int pid, int supervisorPid);

    [LoggerMessage(EventId = 3203, Level = LogLevel.Debug, Message = "process {Instance} deleted: its processes ended and its cgroups removed")]
    private partial void LogDeleted(string instance);
}
