namespace Strata.Cluster;

/// <summary>How a node takes part in the cluster (docs/cluster.md has every knob and its default).</summary>
public sealed record ClusterOptions
{
    /// <summary>The node's lease: its record vanishes this long after the node stops renewing it.</summary>
    public TimeSpan LeaseTtl { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the lease is renewed: a third of the TTL, so two renewals may fail before it lapses.</summary>
    public TimeSpan KeepAliveInterval => LeaseTtl / 3;

    /// <summary>A node is reported offline at most this long after it stopped (lease expiry plus detection).</summary>
    public TimeSpan OfflineAfter { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>How long a lost instance waits before it is placed again on another node.</summary>
    public TimeSpan ReplacementGrace { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>At most one offline node's instances are replaced per this interval.</summary>
    public TimeSpan ReplacementInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Replacements stop while at least this fraction of the known nodes is offline (a partition, not failures).</summary>
    public double FreezeFraction { get; init; } = 0.5;

    /// <summary>Placements committed per etcd transaction (3 operations each; etcd's --max-txn-ops must allow it).</summary>
    public int PlacementBatch { get; init; } = 300;

    /// <summary>
    /// Admissions of one project a node commits in one etcd transaction (2 compares each; etcd's default
    /// --max-txn-ops of 128 allows 63). 1: each admission is its own transaction.
    /// </summary>
    public int AdmissionBatch { get; init; } = 50;

    /// <summary>How long an API call waits for its instance to be placed.</summary>
    public TimeSpan PlacementTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public void Validate()
    {
        if (LeaseTtl < TimeSpan.FromSeconds(2))
        {
            throw new ArgumentException($"the node lease TTL {LeaseTtl.TotalSeconds} s is below 2 s; etcd leases are whole seconds and need room for renewals");
        }
        if (OfflineAfter < LeaseTtl)
        {
            throw new ArgumentException($"offline-after {OfflineAfter.TotalSeconds} s is below the lease TTL {LeaseTtl.TotalSeconds} s: a node cannot be seen offline before its lease lapses");
        }
        if (PlacementBatch is < 1 or > 1000)
        {
            throw new ArgumentException($"placement batch {PlacementBatch} is outside 1-1000");
        }
        if (AdmissionBatch is < 1 or > 63)
        {
            throw new ArgumentException($"admission batch {AdmissionBatch} is outside 1-63 (two compares per admission must fit etcd's default --max-txn-ops of 128)");
        }
        if (FreezeFraction is <= 0 or > 1)
        {
            throw new ArgumentException($"freeze fraction {FreezeFraction} is outside (0, 1]");
        }
    }
}
