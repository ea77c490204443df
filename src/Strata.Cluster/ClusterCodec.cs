using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Etcdserverpb;
using Google.Protobuf;
using Mvccpb;
using Strata.Cluster.Etcd;

namespace Strata.Cluster;

/// <summary>JSON to and from etcd values, and the transaction pieces every cluster write is built from.</summary>
public static class ClusterCodec
{
    public static ByteString Encode<T>(T value, JsonTypeInfo<T> type) => ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(value, type));

    public static T Decode<T>(KeyValue kv, JsonTypeInfo<T> type) =>
        JsonSerializer.Deserialize(kv.Value.Span, type) ?? throw new InvalidDataException($"etcd key {kv.Key.ToStringUtf8()} holds null");

    public static string Key(KeyValue kv) => kv.Key.ToStringUtf8();

    /// <summary>The key exists with exactly this mod revision (0: the key must not exist).</summary>
    public static Compare ModRevisionIs(string key, long revision) => revision == 0
        ? new Compare { Key = EtcdConnection.Bytes(key), Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 }
        : new Compare { Key = EtcdConnection.Bytes(key), Target = Compare.Types.CompareTarget.Mod, Result = Compare.Types.CompareResult.Equal, ModRevision = revision };

    /// <summary>The key was created at exactly this revision: the fence of a leader key.</summary>
    public static Compare CreatedAt(string key, long revision) =>
        new() { Key = EtcdConnection.Bytes(key), Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = revision };

    public static Compare Absent(string key) => ModRevisionIs(key, 0);

    public static RequestOp Put(string key, ByteString value, long lease = 0) =>
        new() { RequestPut = new PutRequest { Key = EtcdConnection.Bytes(key), Value = value, Lease = lease } };

    /// <summary>Changes the value and keeps the key's lease (a node record the node holds alive).</summary>
    public static RequestOp PutKeepLease(string key, ByteString value) =>
        new() { RequestPut = new PutRequest { Key = EtcdConnection.Bytes(key), Value = value, IgnoreLease = true } };

    public static RequestOp Delete(string key) => new() { RequestDeleteRange = new DeleteRangeRequest { Key = EtcdConnection.Bytes(key) } };

    public static RequestOp Get(string key) => new() { RequestRange = new RangeRequest { Key = EtcdConnection.Bytes(key) } };
}
