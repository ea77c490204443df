namespace Strata.Cluster;

/// <summary>
/// Where the cluster keeps its records in etcd. Every key is under <c>/strata/</c>; values are small JSON
/// documents (<see cref="ClusterJson"/>): no logs or metrics ever go to etcd.
/// </summary>
/// <remarks>
/// <list type="table">
/// <item><c>nodes/NODE</c>: <see cref="NodeRecord"/> under the node's lease (gone = offline).</item>
/// <item><c>nodeconf/NODE</c>: <see cref="NodeSettings"/>: labels, drain; written at join, kept while offline.</item>
/// <item><c>pending/PROJECT/NAME</c>: <see cref="DesiredInstance"/> admitted but not placed yet.</item>
/// <item><c>instances/PROJECT/NAME</c>: <see cref="DesiredInstance"/> with its placement and generation.</item>
/// <item><c>assign/NODE/PROJECT/NAME</c>: <see cref="Assignment"/>: what a node must run (what its agent watches).</item>
/// <item><c>state/NODE/PROJECT/NAME</c>: <see cref="InstanceReport"/> from the node, under its lease.</item>
/// <item><c>move/PROJECT/NAME</c>: <see cref="MoveMarker"/> under the source node's lease while a move by node name runs.</item>
/// <item><c>load/NODE</c>: <see cref="NodeLoadReport"/>: its instances' predicted use, under its lease.</item>
/// <item><c>rebalance</c>: the rebalancer's rounds above the threshold and each instance's last move (its cooldown).</item>
/// <item><c>projects/PROJECT</c>, <c>usage/PROJECT</c>, <c>tokens/ID</c>: quotas, their use, token hashes.</item>
/// <item><c>leader</c>: the scheduler election; <c>events/…</c>: cluster events, under a one-hour lease.</item>
/// </list>
/// </remarks>
public static class ClusterKeys
{
    public const string Root = "/strata/";
    public const string Nodes = Root + "nodes/";
    public const string NodeSettings = Root + "nodeconf/";
    public const string Pending = Root + "pending/";
    public const string Instances = Root + "instances/";
    public const string Assignments = Root + "assign/";
    public const string States = Root + "state/";
    public const string Projects = Root + "projects/";
    public const string Usage = Root + "usage/";
    public const string Tokens = Root + "tokens/";
    public const string Events = Root + "events/";
    public const string Election = Root + "leader";
    public const string Moves = Root + "move/";
    public const string Loads = Root + "load/";
    public const string Rebalance = Root + "rebalance";

    public static string Node(string node) => Nodes + node;
    public static string Settings(string node) => NodeSettings + node;
    public static string PendingOf(string project, string name) => Pending + project + "/" + name;
    public static string Instance(string project, string name) => Instances + project + "/" + name;
    public static string InstancesOf(string project) => Instances + project + "/";
    public static string Assignment(string node, string project, string name) => Assignments + node + "/" + project + "/" + name;
    public static string AssignmentsOf(string node) => Assignments + node + "/";
    public static string State(string node, string project, string name) => States + node + "/" + project + "/" + name;
    public static string StatesOf(string node) => States + node + "/";
    public static string Project(string project) => Projects + project;
    public static string UsageOf(string project) => Usage + project;
    public static string Token(string id) => Tokens + id;
    public static string Move(string project, string name) => Moves + project + "/" + name;
    public static string Load(string node) => Loads + node;

    /// <summary>(project, name) from a key <c>PREFIX…/PROJECT/NAME</c>.</summary>
    public static (string Project, string Name) ProjectAndName(string key)
    {
        var last = key.LastIndexOf('/');
        var before = key.LastIndexOf('/', last - 1);
        return (key[(before + 1)..last], key[(last + 1)..]);
    }
}
