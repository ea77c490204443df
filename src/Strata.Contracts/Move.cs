namespace Strata.Contracts;

/// <summary>
/// <c>POST /v1/instances/{name}/move</c>: move a running instance to another daemon. Outside a cluster the target is
/// named by its API address and a token it accepts (its admin token, or an operator token of the same project there).
/// </summary>
public sealed record MoveRequest
{
    /// <summary>The target daemon's API, e.g. <c>http://10.0.0.2:7443</c> (its <c>--listen</c> address).</summary>
    public string? ToAddress { get; init; }

    /// <summary>
    /// Inside a cluster: the node to move it to, by name (instead of <see cref="ToAddress"/> and <see cref="ToToken"/>;
    /// the nodes reach each other with the cluster token).
    /// </summary>
    public string? Node { get; init; }

    /// <summary>A bearer token the target daemon accepts for this instance's project.</summary>
    public string? ToToken { get; init; }

    /// <summary>Limit for the RAM stream and the disk copy, e.g. <c>200M</c> (bytes per second, K/M/G binary suffixes).</summary>
    public string? Bandwidth { get; init; }

    /// <summary>Switch to postcopy after the first RAM pass (always converges; a failure of either side then loses the guest).</summary>
    public bool Postcopy { get; init; }

    /// <summary>
    /// <c>live</c> (the guest keeps running; the vm tier) or <c>cold</c> (stopped, its state carried, started on the
    /// target; the container, wasm and process tiers). Null: live where the tier can, else cold.
    /// </summary>
    public string? Mode { get; init; }
}

/// <summary>What a finished move did (the operation's result).</summary>
public sealed record MoveResult
{
    public string Name { get; init; } = "";
    public string Project { get; init; } = "";
    public string To { get; init; } = "";
    public string Mode { get; init; } = "";
    /// <summary>A cold move: what went along, in words (e.g. the writable layer; nothing for a process, which restarts).</summary>
    public string? Carried { get; init; }
    /// <summary>A cold move: the Strata-managed volumes carried to the target's store for the project (by name).</summary>
    public IReadOnlyList<string>? Volumes { get; init; }
    /// <summary>Carried volumes the source kept, and why (another instance there still mounts it).</summary>
    public IReadOnlyList<string>? VolumesKeptHere { get; init; }
    /// <summary>A cold move: the image the target lacked and the move sent to its image store (name and ID), or null.</summary>
    public string? Image { get; init; }
    /// <summary>The bytes of that image (its blobs).</summary>
    public long ImageBytes { get; init; }
    /// <summary>Why the move took <see cref="Mode"/> (e.g. a sandbox's machine type migrates live).</summary>
    public string? ModeReason { get; init; }
    public double TotalSeconds { get; init; }
    /// <summary>The downtime QEMU measured (source stop to target start).</summary>
    public double DowntimeMs { get; init; }
    public double DiskCopySeconds { get; init; }
    public long RamBytes { get; init; }
    public long DiskBytes { get; init; }
    public long Iterations { get; init; }
    public int MaxThrottlePercent { get; init; }
    public bool UsedPostcopy { get; init; }
}

/// <summary>A writable local disk of a moving instance: the target creates it empty with this size and format.</summary>
public sealed record MoveDisk(string Device, string Format, long SizeBytes);

/// <summary>
/// A moving VM's or sandbox's network membership as its source describes it (docs/move.md, "Networked VMs and
/// sandboxes"): the target joins a network of the same <see cref="Network"/> name in the same project, keeps the NIC's
/// <see cref="Mac"/> (the guest's NIC state migrates with it), leases <see cref="Address"/> again when that network's
/// subnet holds it and it is free there (else another one, which the guest learns), and publishes <see cref="Ports"/>.
/// </summary>
public sealed record MoveNetwork
{
    public required string Network { get; init; }
    public required string Mac { get; init; }
    public required string Address { get; init; }
    public IReadOnlyList<PortSpec> Ports { get; init; } = [];
    /// <summary>The guest reads a names disk (which also carries its address), so it can learn a new address while it runs.</summary>
    public bool NamesDisk { get; init; }
}

/// <summary>
/// <c>POST /v1/instances/{name}/incoming</c>, daemon to daemon: prepare the receiving side of a live move. The
/// instance keeps its id, spec and creation time; nothing of it is visible until the move is confirmed.
/// </summary>
public sealed record IncomingMoveRequest
{
    public required string InstanceId { get; init; }
    public required string Tier { get; init; }
    public required InstanceSpec Spec { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    /// <summary>The tier's own description of the machine (for the vm tier, its configuration); the control plane does not read it.</summary>
    public required string Machine { get; init; }
    public IReadOnlyList<MoveDisk> Disks { get; init; } = [];
    /// <summary>The network the instance is on (null: none); the target joins one of the same name before anything starts.</summary>
    public MoveNetwork? Network { get; init; }
    public bool Postcopy { get; init; }
    /// <summary>The address the target listens on for the RAM stream and the disks (the host the source reached it at).</summary>
    public required string ListenHost { get; init; }
}

/// <summary>Where the target listens: the URI the source's QEMU migrates to and the NBD server receiving the disks.</summary>
public sealed record IncomingMoveInfo
{
    public required string RamUri { get; init; }
    public string? NbdHost { get; init; }
    public int NbdPort { get; init; }
    /// <summary>The devices the target exports (each NBD export is named after its device).</summary>
    public IReadOnlyList<string> Disks { get; init; } = [];
}

/// <summary>A cold move's volume on the target: its path there, and whether the move created it (false: the same content was there).</summary>
public sealed record VolumeArrival
{
    public string Path { get; init; } = "";
    public bool Created { get; init; }
}
