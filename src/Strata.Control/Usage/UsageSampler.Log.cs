using Microsoft.Extensions.Logging;

namespace Strata.Control.Usage;

public sealed partial class UsageSampler
{
    [LoggerMessage(EventId = 2100, Level = LogLevel.Information, Message = "usage histories loaded: {Count} from the store")]
    private partial void LogLoaded(int count);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Warning, Message = "usage history of {Name} ({Instance}) is unreadable and starts afresh: {Error}")]
    private partial void LogUnreadable(string name, string instance, string error);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Debug, Message = "usage of {Name} ({Instance}) not read this round: {Error}")]
    private partial void LogReadFailed(string name, string instance, string error);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Warning, Message = "usage sampling round failed: {Error}")]
    private partial void LogRoundFailed(string error);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Information, Message = "OOM kill of {Name} ({Instance}) at a memory limit of {LimitBytes} bytes counted in its usage history")]
    private partial void LogOomKill(string name, string instance, long limitBytes);

    [LoggerMessage(EventId = 2105, Level = LogLevel.Information, Message = "recommendation applied to {Name} (project {Project}): memory {MemoryBefore} → {MemoryAfter} bytes, cpu {CpuBefore} → {CpuAfter}")]
        private partial void LogApplied(string name, string project, long memoryBefore, long memoryAfter, double cpuBefore, double cpuAfter);

    [LoggerMessage(EventId = 2106, Level = LogLevel.Information, Message = "right-sizing changed {Name} (project {Project}), {Reason}: {Explanation}")]
    private partial void LogRightsized(string name, string project, string reason, string explanation);

    [LoggerMessage(EventId = 2107, Level = LogLevel.Warning, Message = "right-sizing could not change {Name} (project {Project}): {Error}")]
    private partial void LogRightsizeFailed(string name, string project, string error);
}
