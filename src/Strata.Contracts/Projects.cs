namespace Strata.Contracts;

/// <summary>
/// The roles a project token can have (docs/security.md has the full table). Stored as their names.
/// <c>viewer</c> reads; <c>operator</c> also creates and changes instances; <c>admin</c> also manages the
/// project's tokens. Quotas and restrictions are set by host administrators only.
/// </summary>
public static class ProjectRoles
{
    public const string Viewer = "viewer";
    public const string Operator = "operator";
    public const string Admin = "admin";

    public static readonly IReadOnlyList<string> All = [Viewer, Operator, Admin];

    /// <summary>0 viewer, 1 operator, 2 admin; -1 for an unknown name.</summary>
    public static int Rank(string role) => role switch
    {
        Viewer => 0,
        Operator => 1,
        Admin => 2,
        _ => -1,
    };
}

/// <summary>Limits of one project; null = unlimited. Counted over every instance of the project that exists (any state).</summary>
public sealed record ProjectQuota
{
    public int? Instances { get; init; }
    /// <summary>Sum of <c>resources.cpus</c>.</summary>
    public double? Cpus { get; init; }
    /// <summary>Sum of <c>resources.memoryBytes</c>.</summary>
    public long? MemoryBytes { get; init; }
    /// <summary>Sum of <c>resources.pids</c>.</summary>
    public long? Pids { get; init; }
    /// <summary>Sum of <c>resources.diskBytes</c>.</summary>
    public long? DiskBytes { get; init; }
}

/// <summary>
/// What workloads of a project may ask for, enforced at admission (403 with the reason). Every switch defaults
/// to false (denied); the <c>default</c> project is created with all of them allowed.
/// </summary>
public sealed record ProjectRestrictions
{
    /// <summary>The only tiers the project may use; null allows every tier (subject to <see cref="AllowProcessTier"/>).</summary>
    public IReadOnlyList<string>? AllowedTiers { get; init; }
    /// <summary>The process tier runs straight on the host as the daemon's user: host access, off unless allowed.</summary>
    public bool AllowProcessTier { get; init; }
    /// <summary><c>network: host</c>.</summary>
    public bool AllowHostNetwork { get; init; }
    /// <summary>Host-path mounts (<c>mounts</c>, <c>--volume</c>).</summary>
    public bool AllowHostMounts { get; init; }
    /// <summary>Host devices (<c>security.devices</c>, <c>--device</c>).</summary>
    public bool AllowDevices { get; init; }
    /// <summary>Extra Linux capabilities (<c>security.capAdd</c>, <c>--cap-add</c>).</summary>
    public bool AllowCapAdd { get; init; }
    /// <summary>
    /// The weakest tier a workload marked <c>requirements.trust: untrusted</c> may run on: <c>wasm</c>,
    /// <c>sandbox</c> (the default when null) or <c>vm</c>. The advisor honours it for <c>tier: auto</c>.
    /// </summary>
    public string? MinimumTierForUntrusted { get; init; }

    /// <summary>Everything allowed: the <c>default</c> project.</summary>
    public static ProjectRestrictions Unrestricted => new()
    {
        AllowProcessTier = true,
        AllowHostNetwork = true,
        AllowHostMounts = true,
        AllowDevices = true,
        AllowCapAdd = true,
    };
}

/// <summary>What a project's instances use now, counted the way the quota counts.</summary>
public sealed record ProjectUsage
{
    public int Instances { get; init; }
    public double Cpus { get; init; }
    public long MemoryBytes { get; init; }
    public long Pids { get; init; }
    public long DiskBytes { get; init; }
}

public sealed record ProjectInfo
{
    public required string Name { get; init; }
    public string? Description { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public required ProjectQuota Quota { get; init; }
    public required ProjectRestrictions Restrictions { get; init; }
    public ProjectUsage? Usage { get; init; }
    /// <summary>The right-sizing mode its instances follow unless they set their own (<c>recommend</c> unless changed).</summary>
    public string? Rightsize { get; init; }
}

public sealed record ProjectList(IReadOnlyList<ProjectInfo> Items);

/// <summary>Body of <c>POST /v1/projects</c>. Omitted restrictions mean the restrictive defaults.</summary>
public sealed record CreateProjectRequest
{
    public required string Name { get; init; }
    public string? Description { get; init; }
    public ProjectQuota? Quota { get; init; }
    public ProjectRestrictions? Restrictions { get; init; }
}

/// <summary>An API token of a project. <see cref="Token"/> is set only in the answer that created it.</summary>
public sealed record TokenInfo
{
    /// <summary>The public part of the token (<c>strata_ID_SECRET</c>), used to list and revoke it.</summary>
    public required string Id { get; init; }
    public required string Project { get; init; }
    public required string Role { get; init; }
    public string? Description { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    /// <summary>The secret bearer token, shown once; the daemon keeps only its SHA-256.</summary>
    public string? Token { get; init; }
}

public sealed record TokenList(IReadOnlyList<TokenInfo> Items);

/// <summary>Body of <c>POST /v1/projects/{name}/tokens</c>.</summary>
public sealed record CreateTokenRequest
{
    /// <summary><c>viewer</c>, <c>operator</c> or <c>admin</c>.</summary>
    public required string Role { get; init; }
    public string? Description { get; init; }
}
