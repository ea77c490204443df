namespace Strata.Daemon.Cluster;

public sealed partial class ProjectSync
{
    [LoggerMessage(EventId = 1943, Level = LogLevel.Warning, Message = "Cluster: following {Prefix} in etcd failed, projects and tokens may be stale until it resumes: {Reason}")]
    private partial void LogSyncFailed(string prefix, string reason);
}
