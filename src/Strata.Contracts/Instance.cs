namespace Strata.Contracts;

/// <summary>An instance as the API returns it.</summary>
public sealed record InstanceInfo
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public required string Project { get; init; }
    public required string Tier { get; init; }
    public required string State { get; init; }
    public string? Image { get; init; }
    public required InstanceSpec Spec { get; init; }
    public int? Pid { get; init; }
    public int? ExitCode { get; init; }
    /// <summary>Why the instance failed or exited abnormally (e.g. <c>oom-killed</c>, <c>signal: SIGKILL</c>).</summary>
    public string? Reason { get; init; }
    public int RestartCount { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    /// <summary>Driver-specific facts worth showing (runtime, accelerator, ...).</summary>
    public IReadOnlyDictionary<string, string>? Details { get; init; }
    /// <summary>Why the instance runs on its tier (the advisor's reasons, fallback and runners-up).</summary>
    public Placement? Placement { get; init; }
    /// <summary>Its right-sizing mode, where the mode comes from, and the last automatic change (docs/rightsizing.md); in inspect (<c>GET /v1/instances/{name}</c>) only, not in lists.</summary>
    public RightsizeStatus? Rightsize { get; init; }
}

public sealed record InstanceList(IReadOnlyList<InstanceInfo> Items);

public sealed record WaitResult(string Name, string State, int? ExitCode, string? Reason);

/// <summary>One record of an instance's log (CRI log format on disk).</summary>
public sealed record LogRecord(DateTimeOffset Time, string Stream, string Text, bool Partial);

public sealed record TierAvailability(string Tier, bool Available, string Reason, string? Engine);

public sealed record DaemonInfo
{
    public required string Version { get; init; }
    public required string Root { get; init; }
    public required string Store { get; init; }
    public required IReadOnlyList<TierAvailability> Tiers { get; init; }
    public required HostInfo Host { get; init; }
    public int Instances { get; init; }
}

public sealed record HostInfo(string Os, string Kernel, string Arch, int Cpus, long MemoryBytes, string Cgroups);

/// <summary>A lifecycle event, as sent on <c>/v1/events</c>.</summary>
public sealed record InstanceEvent
{
    public required long Sequence { get; init; }
    public required DateTimeOffset Time { get; init; }
    /// <summary><c>created</c>, <c>started</c>, <c>stopping</c>, <c>stopped</c>, <c>exited</c>, <c>failed</c>, <c>restarted</c>, <c>deleted</c>.</summary>
    public required string Type { get; init; }
    public required string Instance { get; init; }
    public required string Project { get; init; }
    public required string Tier { get; init; }
    public required string State { get; init; }
    public int? ExitCode { get; init; }
    public string? Reason { get; init; }
    /// <summary>What changed and why, for events that say more than a state (<c>resized</c>: the limits and the reason).</summary>
    public string? Detail { get; init; }
}

/// <summary>RFC 7807 problem details, as the daemon sends them.</summary>
public sealed record ProblemDetails
{
    public string? Type { get; init; }
    public string? Title { get; init; }
    public int Status { get; init; }
    public string? Detail { get; init; }
    public string? Field { get; init; }
    public string? Kind { get; init; }
}

/// <summary>
/// One line of an NDJSON stream from <c>/logs</c> or an attached <c>run</c>: exactly one member is set.
/// The stream of an attached run starts with <see cref="Instance"/> and ends with <see cref="Exit"/>.
/// </summary>
public sealed record StreamFrame
{
    public InstanceInfo? Instance { get; init; }
    public LogRecord? Log { get; init; }
    public WaitResult? Exit { get; init; }
}
