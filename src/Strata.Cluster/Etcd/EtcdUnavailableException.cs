using Grpc.Core;

namespace Strata.Cluster.Etcd;

/// <summary>
/// etcd could not take the request: no member answered, or the members that did have no quorum. The API turns it
/// into a 503 naming etcd; running workloads are not touched.
/// </summary>
public sealed class EtcdUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A cluster request that etcd refused for a reason of its own (not availability), with etcd's words.</summary>
public sealed class EtcdRequestException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>etcd's gRPC status, when the refusal came as one.</summary>
    public StatusCode? Status => (InnerException as RpcException)?.StatusCode;

    /// <summary>etcd's own words (the gRPC status detail), or the message.</summary>
    public string Detail => (InnerException as RpcException)?.Status.Detail ?? Message;
}
