using Microsoft.Extensions.Logging;

namespace Strata.Cluster.Rebalancing;

public sealed partial class RebalanceLoop
{
    [LoggerMessage(EventId = 1971, Level = LogLevel.Debug, Message = "Cluster: rebalance round: {Reason}: {Summary}")]
    private static partial void LogDecision(ILogger log, string reason, string summary);

    [LoggerMessage(EventId = 1972, Level = LogLevel.Information, Message = "Cluster: rebalance (dry-run) would move {Project}/{Name} from {From} to {To}: {Why}")]
    private static partial void LogProposed(ILogger log, string name, string project, string from, string to, string why);

    [LoggerMessage(EventId = 1973, Level = LogLevel.Information, Message = "Cluster: rebalance moved {Project}/{Name} from {From} to {To}: {Why}")]
    private static partial void LogMoved(ILogger log, string name, string project, string from, string to, string why);

    [LoggerMessage(EventId = 1974, Level = LogLevel.Warning, Message = "Cluster: rebalance could not move {Project}/{Name} from {From} to {To}: {Reason}")]
    private static partial void LogFailed(ILogger log, string name, string project, string from, string to, string reason);

    [LoggerMessage(EventId = 1975, Level = LogLevel.Information, Message = "Cluster: rebalance move of {Project}/{Name} from {From} to {To} cancelled (undone)")]
    private static partial void LogCancelled(ILogger log, string name, string project, string from, string to);
}
