using System.Globalization;

namespace Strata.Scheduler.Tests.Harness;

/// <summary>
/// Builds a snapshot fluently, Nomad-harness style:
/// <c>new ClusterBuilder().Node("n1", n => n.Capacity(4, "8GiB").Used(2, "4GiB")).Build()</c>.
/// Nodes default to 4 cores, 8 GiB, 100 GiB disk, 4096 pids, all tiers, x86_64, ready, version 1.
/// </summary>
internal sealed class ClusterBuilder
{
    private readonly List<NodeBuilder> _nodes = [];

    public ClusterBuilder Node(string name, Action<NodeBuilder>? configure = null)
    {
        var node = new NodeBuilder(name);
        configure?.Invoke(node);
        _nodes.Add(node);
        return this;
    }

    /// <summary>Adds <paramref name="count"/> nodes named <c>{prefix}0..</c>, each configured by <paramref name="configure"/>(builder, i).</summary>
    public ClusterBuilder Nodes(int count, string prefix = "n", Action<NodeBuilder, int>? configure = null)
    {
        for (var i = 0; i < count; i++)
        {
            var index = i;
            Node(prefix + index.ToString(CultureInfo.InvariantCulture), n => configure?.Invoke(n, index));
        }
        return this;
    }

    public ClusterSnapshot Build() => new([.. _nodes.Select(n => n.Build())]);
}

internal sealed class NodeBuilder(string name)
{
    public static readonly string[] AllTiers = ["process", "container", "sandbox", "vm", "wasm"];

    private Resources _capacity = new(4000, Gib(8), Gib(100), 4096);
    private Resources _used;
    private HashSet<string> _tiers = [.. AllTiers];
    private string _arch = "x86_64";
    private readonly Dictionary<string, string> _labels = [];
    private readonly List<PlacedInstance> _instances = [];
    private bool _draining;
    private bool _offline;
    private long _version = 1;

    public NodeBuilder Capacity(double cores, string memory, string disk = "100GiB", long pids = 4096)
    {
        _capacity = new Resources(Cores(cores), Size(memory), Size(disk), pids);
        return this;
    }

    /// <summary>Resources already in use (free = capacity − used).</summary>
    public NodeBuilder Used(double cores, string memory, string disk = "0", long pids = 0)
    {
        _used = new Resources(Cores(cores), Size(memory), Size(disk), pids);
        return this;
    }

    public NodeBuilder Tiers(params string[] tiers)
    {
        _tiers = [.. tiers];
        return this;
    }

    public NodeBuilder Arch(string arch)
    {
        _arch = arch;
        return this;
    }

    public NodeBuilder Label(string key, string value)
    {
        _labels[key] = value;
        return this;
    }

    public NodeBuilder Draining()
    {
        _draining = true;
        return this;
    }

    public NodeBuilder Offline()
    {
        _offline = true;
        return this;
    }

    public NodeBuilder Runs(string instance, string project = "default", string? group = null)
    {
        _instances.Add(new PlacedInstance(instance, project, group));
        return this;
    }

    /// <summary>
    /// An instance whose limits reserve <paramref name="cores"/> and <paramref name="memory"/> (added to what is used),
    /// and, when given, whose usage history predicts <paramref name="predictedCores"/> and <paramref name="predictedMemory"/>.
    /// </summary>
    public NodeBuilder RunsSized(string instance, double cores, string memory, double? predictedCores = null, string? predictedMemory = null, string project = "default")
    {
        var requested = new Resources(Cores(cores), Size(memory));
        _used += requested;
        Resources? predicted = predictedCores is { } pc ? new Resources(Cores(pc), Size(predictedMemory ?? memory)) : null;
        _instances.Add(new PlacedInstance(instance, project, null, requested, predicted));
        return this;
    }

    public NodeBuilder Version(long version)
    {
        _version = version;
        return this;
    }

    public NodeInfo Build() => new()
    {
        Name = name,
        Version = _version,
        Capacity = _capacity,
        Free = _capacity - _used,
        Tiers = _tiers,
        Arch = _arch,
        Labels = _labels,
        Draining = _draining,
        Offline = _offline,
        Instances = _instances,
    };

    public static long Cores(double cores) => (long)Math.Round(cores * 1000);

    public static long Gib(long n) => n << 30;

    /// <summary><c>512MiB</c>, <c>8GiB</c>, <c>1TiB</c>, or plain bytes.</summary>
    public static long Size(string text)
    {
        (string Suffix, long Factor)[] units = [("KiB", 1L << 10), ("MiB", 1L << 20), ("GiB", 1L << 30), ("TiB", 1L << 40)];
        foreach (var (suffix, factor) in units)
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal))
            {
                return (long)(double.Parse(text[..^suffix.Length], CultureInfo.InvariantCulture) * factor);
            }
        }
        return long.Parse(text, CultureInfo.InvariantCulture);
    }
}
