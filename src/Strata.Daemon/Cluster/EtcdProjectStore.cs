using Etcdserverpb;
using Strata.Cluster;
using Strata.Cluster.Etcd;
using Strata.Contracts;
using Strata.Store;

namespace Strata.Daemon.Cluster;

/// <summary>
/// Projects and token hashes in etcd (<c>projects/P</c>, <c>tokens/ID</c>) instead of the node's SQLite: in a
/// cluster the <see cref="Control.Projects.ProjectService"/> of every node writes through this store, and
/// <see cref="ProjectSync"/> brings every other node's view up to date, so a project or token made on one node
/// works on all. The <c>default</c> project exists from the first read, unrestricted as on a single host.
/// </summary>
public sealed class EtcdProjectStore(EtcdConnection etcd) : IProjectStore
{
    public async Task<IReadOnlyList<ProjectRecord>> ListProjectsAsync(CancellationToken cancellationToken = default)
    {
        await EnsureDefaultAsync(cancellationToken).ConfigureAwait(false);
        var r = await etcd.GetPrefixAsync(ClusterKeys.Projects, ct: cancellationToken).ConfigureAwait(false);
        return [.. r.Kvs.Select(kv => ToRecord(ClusterCodec.Decode(kv, ClusterJson.Default.ClusterProject))).OrderBy(p => p.CreatedAt).ThenBy(p => p.Name, StringComparer.Ordinal)];
    }

    private async Task EnsureDefaultAsync(CancellationToken ct)
    {
        var key = ClusterKeys.Project(Control.InstanceService.DefaultProject);
        var txn = new TxnRequest();
        txn.Compare.Add(ClusterCodec.Absent(key));
        txn.Success.Add(ClusterCodec.Put(key, Encode(new ProjectRecord
        {
            Name = Control.InstanceService.DefaultProject,
            Restrictions = ProjectRestrictions.Unrestricted,
            CreatedAt = DateTimeOffset.UnixEpoch,
        })));
        await etcd.TxnAsync(txn, ct).ConfigureAwait(false);
    }

    public async Task InsertProjectAsync(ProjectRecord project, CancellationToken cancellationToken = default)
    {
        var key = ClusterKeys.Project(project.Name);
        var txn = new TxnRequest();
        txn.Compare.Add(ClusterCodec.Absent(key));
        txn.Success.Add(ClusterCodec.Put(key, Encode(project)));
        if (!(await etcd.TxnAsync(txn, cancellationToken).ConfigureAwait(false)).Succeeded)
        {
            throw StrataException.Conflict($"a project named '{project.Name}' exists already in the cluster");
        }
    }

    public async Task UpdateProjectAsync(ProjectRecord project, CancellationToken cancellationToken = default)
    {
        var key = ClusterKeys.Project(project.Name);
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare { Key = EtcdConnection.Bytes(key), Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Greater, CreateRevision = 0 });
        txn.Success.Add(ClusterCodec.Put(key, Encode(project)));
        if (!(await etcd.TxnAsync(txn, cancellationToken).ConfigureAwait(false)).Succeeded)
        {
            throw Control.Projects.ProjectService.NoProject(project.Name);
        }
    }

    /// <summary>
    /// Removes the project, its usage record and its tokens in one transaction, which holds only while the cluster
    /// has no instance of it (placed or pending) on any node.
    /// </summary>
    public async Task<bool> DeleteProjectAsync(string name, CancellationToken cancellationToken = default)
    {
        var tokens = await TokensAsync(cancellationToken).ConfigureAwait(false);
        var txn = new TxnRequest();
        foreach (var prefix in new[] { ClusterKeys.InstancesOf(name), ClusterKeys.Pending + name + "/" })
        {
            // "no key in the prefix": the greatest create revision in the range is 0 only when the range is empty.
            txn.Compare.Add(new Compare
            {
                Key = EtcdConnection.Bytes(prefix),
                RangeEnd = EtcdConnection.PrefixEnd(prefix),
                Target = Compare.Types.CompareTarget.Create,
                Result = Compare.Types.CompareResult.Equal,
                CreateRevision = 0,
            });
        }
        txn.Success.Add(ClusterCodec.Delete(ClusterKeys.Project(name)));
        txn.Success.Add(ClusterCodec.Delete(ClusterKeys.UsageOf(name)));
        foreach (var t in tokens.Where(t => t.Project == name))
        {
            txn.Success.Add(ClusterCodec.Delete(ClusterKeys.Token(t.Id)));
        }
        var r = await etcd.TxnAsync(txn, cancellationToken).ConfigureAwait(false);
        if (!r.Succeeded)
        {
            throw StrataException.Conflict($"project '{name}' still has instances in the cluster; remove them first (strata --project {name} rm -f ...)");
        }
        return r.Responses[0].ResponseDeleteRange.Deleted > 0;
    }

    public async Task<IReadOnlyList<TokenRecord>> ListTokensAsync(CancellationToken cancellationToken = default) =>
        [.. (await TokensAsync(cancellationToken).ConfigureAwait(false)).Select(t => new TokenRecord
        {
            Id = t.Id,
            Project = t.Project,
            Role = t.Role,
            Hash = t.Hash,
            Description = t.Description,
            CreatedAt = t.CreatedAt,
        }).OrderBy(t => t.CreatedAt)];

    private async Task<IReadOnlyList<ClusterToken>> TokensAsync(CancellationToken ct) =>
        [.. (await etcd.GetPrefixAsync(ClusterKeys.Tokens, ct: ct).ConfigureAwait(false)).Kvs.Select(kv => ClusterCodec.Decode(kv, ClusterJson.Default.ClusterToken))];

    /// <summary>Writes the token's hash while its project exists (one transaction).</summary>
    public async Task InsertTokenAsync(TokenRecord token, CancellationToken cancellationToken = default)
    {
        var key = ClusterKeys.Token(token.Id);
        var txn = new TxnRequest();
        txn.Compare.Add(ClusterCodec.Absent(key));
        txn.Compare.Add(new Compare { Key = EtcdConnection.Bytes(ClusterKeys.Project(token.Project)), Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Greater, CreateRevision = 0 });
        txn.Success.Add(ClusterCodec.Put(key, ClusterCodec.Encode(new ClusterToken
        {
            Id = token.Id,
            Project = token.Project,
            Role = token.Role,
            Hash = token.Hash,
            Description = token.Description,
            CreatedAt = token.CreatedAt,
        }, ClusterJson.Default.ClusterToken)));
        if (!(await etcd.TxnAsync(txn, cancellationToken).ConfigureAwait(false)).Succeeded)
        {
            throw Control.Projects.ProjectService.NoProject(token.Project);
        }
    }

    public async Task<bool> DeleteTokenAsync(string id, CancellationToken cancellationToken = default) =>
        (await etcd.DeleteAsync(ClusterKeys.Token(id), cancellationToken).ConfigureAwait(false)).Deleted > 0;

    private static Google.Protobuf.ByteString Encode(ProjectRecord p) => ClusterCodec.Encode(new ClusterProject
    {
        Name = p.Name,
        Description = p.Description,
        CreatedAt = p.CreatedAt,
        Quota = p.Quota,
        Restrictions = p.Restrictions,
        AllowedTiers = p.Restrictions.AllowedTiers,
    }, ClusterJson.Default.ClusterProject);

    private static ProjectRecord ToRecord(ClusterProject p) => new()
    {
        Name = p.Name,
        Description = p.Description,
        CreatedAt = p.CreatedAt,
        Quota = p.Quota ?? new ProjectQuota(),
        // A record written straight into etcd with only placement rules: the restrictive defaults, with its tiers.
        Restrictions = p.Restrictions ?? new ProjectRestrictions { AllowedTiers = p.AllowedTiers },
    };
}
