using Microsoft.Extensions.Logging;

namespace Strata.Cluster;

public sealed partial class NodeLoadPublisher
{
    [LoggerMessage(EventId = 1970, Level = LogLevel.Debug, Message = "Cluster: node {Node} published its predicted load: {WithHistory} of {Assigned} assigned instances predicted from usage histories")]
    private static partial void LogPublished(ILogger log, string node, int withHistory, int assigned);
}
