using System.Security.Cryptography;
using System.Text;
using Etcdserverpb;
using Strata.Cluster.Etcd;
using Strata.Contracts;

namespace Strata.Cluster;

/// <summary>
/// The cluster token (<c>strata cluster init</c>): what makes a daemon a member. etcd keeps only its SHA-256
/// (<c>/strata/trust</c>), written by the first node that joins; every later node must hold the same token or it is
/// refused before it registers. Nodes present the token to each other on every request one forwards to another
/// (<c>Authorization: Bearer</c>), and the receiving node compares it in constant time.
/// </summary>
public static class ClusterTrust
{
    public const string Key = ClusterKeys.Root + "trust";

    /// <summary>Shortest token a node accepts (<c>strata cluster init</c> writes 64 hex characters).</summary>
    public const int MinimumLength = 32;

    /// <summary>Reads the token file, refusing a missing, short or world-readable one with the fix.</summary>
    public static string Read(string path)
    {
        if (!File.Exists(path))
        {
            throw StrataException.Invalid("--cluster-token-file",
                $"{path} does not exist: a cluster node needs the cluster token; run 'strata cluster init --token-file {path}' on the first node and copy the file (mode 0600) to the others");
        }
        if ((File.GetUnixFileMode(path) & (UnixFileMode.OtherRead | UnixFileMode.GroupRead)) != 0)
        {
            throw StrataException.Invalid("--cluster-token-file", $"{path} is readable by others; the cluster token must be private: chmod 600 {path}");
        }
        var token = File.ReadAllText(path).Trim();
        if (token.Length < MinimumLength)
        {
            throw StrataException.Invalid("--cluster-token-file", $"the token in {path} has {token.Length} characters, fewer than {MinimumLength}; make one with 'strata cluster init'");
        }
        return token;
    }

    public static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>Whether <paramref name="presented"/> is the cluster token, in constant time.</summary>
    public static bool Matches(string token, string presented) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(token), Encoding.UTF8.GetBytes(presented));

    /// <summary>
    /// Checks this node's token against the cluster's: the first node to join records the token's hash, every
    /// other node must match it. A mismatch is refused with the fix, before the node writes anything else.
    /// </summary>
    public static async Task JoinAsync(EtcdConnection etcd, string token, string tokenFile, CancellationToken ct = default)
    {
        var hash = Hash(token);
        var txn = new TxnRequest();
        txn.Compare.Add(ClusterCodec.Absent(Key));
        txn.Success.Add(ClusterCodec.Put(Key, EtcdConnection.Bytes(hash)));
        txn.Failure.Add(ClusterCodec.Get(Key));
        var r = await etcd.TxnAsync(txn, ct).ConfigureAwait(false);
        if (r.Succeeded)
        {
            return;
        }
        var stored = r.Responses[0].ResponseRange.Kvs.FirstOrDefault()?.Value.ToStringUtf8() ?? "";
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(stored), Encoding.ASCII.GetBytes(hash)))
        {
            throw new StrataException(ErrorKind.Unauthorized,
                $"the cluster token in {tokenFile} is not this cluster's (etcd {string.Join(',', etcd.Members.Select(m => m.Authority))} holds another): " +
                "this node cannot join; copy the token file from a member node (made by 'strata cluster init') and start again");
        }
    }
}
