using Microsoft.Extensions.Logging;

namespace Strata.Cluster;

public static partial class SupervisedLoop
{
    [LoggerMessage(EventId = 1960, Level = LogLevel.Warning, Message = "Cluster: {Loop} failed on etcd, starting again in {Retry} s: {Reason}")]
    private static partial void LogEtcdFailed(ILogger log, string loop, string reason, double retry);

    [LoggerMessage(EventId = 1961, Level = LogLevel.Error, Message = "Cluster: {Loop} failed unexpectedly ({Type}: {Reason}), starting again in {Retry} s")]
    private static partial void LogFaulted(ILogger log, Exception exception, string loop, string type, string reason, double retry);
}
