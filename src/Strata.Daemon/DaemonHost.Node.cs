using Strata.Contracts;
using Strata.Contracts.Host;
using Strata.Node;
using Strata.Node.Cgroups;

namespace Strata.Daemon;

/// <summary>
/// The node a data root belongs to. Its networks, namespaces, taps and cgroups carry the node's names
/// (<see cref="NodeScope"/>), so a root is always started with the node it was first started with.
/// </summary>
public sealed partial class DaemonHost
{
    /// <summary>ROOT/node: the node name, written at the first start.</summary>
    public const string NodeFile = "node";

    /// <summary>
    /// Records the node of a new root; refuses a root that belongs to another node. A root from before node names
    /// (it has a state.db but no node file) belongs to <c>local</c>, whose names it has.
    /// </summary>
    internal static void ClaimRootForNode(string root, NodeScope scope)
    {
        var path = Path.Combine(root, NodeFile);
        var owner = File.Exists(path) ? File.ReadAllText(path).Trim()
            : File.Exists(Path.Combine(root, "state.db")) ? NodeName.Default
            : null;
        if (owner is not null && owner != scope.Name)
        {
            throw StrataException.Invalid("--node",
                $"the data root {root} belongs to node '{owner}' (its networks, namespaces and cgroups carry that node's names); start it with --node {owner}, or use another --root for node '{scope.Name}'");
        }
        if (!File.Exists(path))
        {
            using var stream = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
            stream.Write(System.Text.Encoding.UTF8.GetBytes(scope.Name + "\n"));
        }
    }

    /// <summary>
    /// At shutdown, a node other than local removes its cgroup parent when no instance is left in it, so a host where
    /// a node was removed has nothing of it left. The local node's parent stays as it always has (embedded daemons of
    /// node local share it).
    /// </summary>
    private void ReleaseNodeCgroupParent()
    {
        var scope = new NodeScope(_options.Node);
        if (!scope.IsLocal)
        {
            CgroupSet.RemoveParentIfEmpty(scope.CgroupParent);
        }
    }
}
