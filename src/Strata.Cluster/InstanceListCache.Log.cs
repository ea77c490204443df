using Microsoft.Extensions.Logging;

namespace Strata.Cluster;

public sealed partial class InstanceListCache
{
    [LoggerMessage(EventId = 1950, Level = LogLevel.Information, Message = "Cluster: etcd compacted past the instance list cache (at revision {Revision}, compacted to {Compacted}); reading everything again")]
    private partial void LogCompacted(long revision, long compacted);

    [LoggerMessage(EventId = 1952, Level = LogLevel.Warning, Message = "Cluster: the instance list cache is behind etcd (revision {Have} of {Want}); this list is read from etcd directly")]
    private partial void LogBehind(long want, long have);
}
