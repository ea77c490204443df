using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Store;

namespace Strata.Control.Projects;

/// <summary>
/// Projects and their API tokens. Reads come from an in-memory view written through to the
/// <see cref="IProjectStore"/>; a revoke removes the token from that view before it returns, so the next
/// request with it is refused (nothing else caches tokens). Tokens are <c>strata_ID_SECRET</c>: the ID is
/// public (listing, revoking), only the SHA-256 of the whole token is stored, and the secret is shown once.
/// </summary>
public sealed class ProjectService
{
    public const string TokenPrefix = "strata_";

    private readonly IProjectStore _store;
    private readonly TimeProvider _time;
    private readonly ITierCapabilities _tiers;
    private readonly ConcurrentDictionary<string, ProjectRecord> _projects = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TokenRecord> _tokens = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _writes = new(1, 1);
    private readonly SemaphoreSlim _catchUp = new(1, 1);
    private long _catchUpStarted;

    /// <param name="tiers">What the drivers declare: which tiers a project may require for untrusted code.</param>
    public ProjectService(IProjectStore store, TimeProvider time, ITierCapabilities tiers)
    {
        _store = store;
        _time = time;
        _tiers = tiers;
    }

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        foreach (var p in await _store.ListProjectsAsync(cancellationToken).ConfigureAwait(false))
        {
            _projects[p.Name] = p;
        }
        foreach (var t in await _store.ListTokensAsync(cancellationToken).ConfigureAwait(false))
        {
            _tokens[t.Id] = t;
        }
    }

    /// <summary>
    /// Reads the store again and replaces the view with it: in a cluster the store is shared by every node, and
    /// another node's change (a project, a token made or revoked) reaches this node's view here. The store is read
    /// under the write lock, so a change of this node's own is never undone by an older read.
    /// </summary>
    public async Task ReloadAsync(CancellationToken cancellationToken)
    {
        await _writes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var projects = await _store.ListProjectsAsync(cancellationToken).ConfigureAwait(false);
            var tokens = await _store.ListTokensAsync(cancellationToken).ConfigureAwait(false);
            Replace(_projects, projects.ToDictionary(p => p.Name, StringComparer.Ordinal));
            Replace(_tokens, tokens.ToDictionary(t => t.Id, StringComparer.Ordinal));
        }
        finally
        {
            _writes.Release();
        }
    }

    private static void Replace<T>(ConcurrentDictionary<string, T> view, Dictionary<string, T> now)
    {
        // Removals first: a revoked token is refused before anything else changes.
        foreach (var key in view.Keys.Where(k => !now.ContainsKey(k)).ToList())
        {
            view.TryRemove(key, out _);
        }
        foreach (var (key, value) in now)
        {
            view[key] = value;
        }
    }

    // ---------------------------------------------------------------- projects

    public ProjectRecord? Find(string name) => _projects.GetValueOrDefault(name);

    public ProjectRecord Get(string name) => Find(name) ?? throw NoProject(name);

    public static StrataException NoProject(string name) =>
        StrataException.NotFound($"no project named '{name}'; 'strata project ls' lists them, 'strata project create {name}' makes it");

    public IReadOnlyList<ProjectRecord> List() =>
        [.. _projects.Values.OrderBy(p => p.CreatedAt).ThenBy(p => p.Name, StringComparer.Ordinal)];

    public async Task<ProjectRecord> CreateAsync(CreateProjectRequest request, CancellationToken cancellationToken)
    {
        SpecValidator.ValidateName(request.Name);
        var record = new ProjectRecord
        {
            Name = request.Name,
            Description = request.Description,
            CreatedAt = _time.GetUtcNow(),
            Quota = Validate(request.Quota ?? new ProjectQuota()),
            Restrictions = Validate(request.Restrictions ?? new ProjectRestrictions()),
        };
        await _writes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_projects.ContainsKey(record.Name))
            {
                throw StrataException.Conflict($"a project named '{record.Name}' exists already");
            }
            await _store.InsertProjectAsync(record, CancellationToken.None).ConfigureAwait(false);
            _projects[record.Name] = record;
            return record;
        }
        finally
        {
            _writes.Release();
        }
    }

    /// <summary>Removes a project and its tokens. <paramref name="isEmpty"/> is asked under the write lock.</summary>
    public async Task DeleteAsync(string name, Func<bool> isEmpty, CancellationToken cancellationToken)
    {
        if (name == InstanceService.DefaultProject)
        {
            throw new StrataException(ErrorKind.Conflict, "the default project cannot be removed");
        }
        await _writes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Get(name);
            if (!isEmpty())
            {
                throw StrataException.Conflict($"project '{name}' still has instances; remove them first (strata --project {name} rm -f ...)");
            }
            // Tokens go first, so a request racing the removal can no longer authenticate.
            var tokens = _tokens.Values.Where(t => t.Project == name).ToList();
            foreach (var token in tokens)
            {
                _tokens.TryRemove(token.Id, out _);
            }
            _projects.TryRemove(name, out var project);
            try
            {
                await _store.DeleteProjectAsync(name, CancellationToken.None).ConfigureAwait(false);
            }
            catch (StrataException)
            {
                // The store refused (in a cluster: instances of the project on other nodes): nothing was removed.
                _projects[name] = project!;
                foreach (var token in tokens)
                {
                    _tokens[token.Id] = token;
                }
                throw;
            }
        }
        finally
        {
            _writes.Release();
        }
    }

    public Task<ProjectRecord> SetQuotaAsync(string name, ProjectQuota quota, CancellationToken cancellationToken) =>
        UpdateAsync(name, p => p with { Quota = Validate(quota) }, cancellationToken);

    public Task<ProjectRecord> SetRestrictionsAsync(string name, ProjectRestrictions restrictions, CancellationToken cancellationToken) =>
        UpdateAsync(name, p => p with { Restrictions = Validate(restrictions) }, cancellationToken);

    /// <summary>The project's default right-sizing mode (null: <see cref="RightsizeModes.Default"/>).</summary>
    public Task<ProjectRecord> SetRightsizeAsync(string name, string? mode, CancellationToken cancellationToken)
    {
        if (mode is not null)
        {
            RightsizeModes.Validate(mode, "mode");
        }
        return UpdateAsync(name, p => p with { Rightsize = mode }, cancellationToken);
    }

    private async Task<ProjectRecord> UpdateAsync(string name, Func<ProjectRecord, ProjectRecord> change, CancellationToken cancellationToken)
    {
        await _writes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var next = change(Get(name));
            await _store.UpdateProjectAsync(next, CancellationToken.None).ConfigureAwait(false);
            _projects[name] = next;
            return next;
        }
        finally
        {
            _writes.Release();
        }
    }

    private static ProjectQuota Validate(ProjectQuota q)
    {
        if (q.Instances is < 0)
        {
            throw StrataException.Invalid("quota.instances", $"{q.Instances} is negative; give 0 or more, or leave it unset for no limit");
        }
        if (q.Cpus is { } cpus && (double.IsNaN(cpus) || cpus < 0))
        {
            throw StrataException.Invalid("quota.cpus", $"{cpus} is not a number of cores; give 0 or more");
        }
        if (q.MemoryBytes is < 0)
        {
            throw StrataException.Invalid("quota.memoryBytes", $"{q.MemoryBytes} is negative");
        }
        if (q.Pids is < 0)
        {
            throw StrataException.Invalid("quota.pids", $"{q.Pids} is negative");
        }
        if (q.DiskBytes is < 0)
        {
            throw StrataException.Invalid("quota.diskBytes", $"{q.DiskBytes} is negative");
        }
        return q;
    }

    private ProjectRestrictions Validate(ProjectRestrictions r)
    {
        if (r.AllowedTiers is { } tiers)
        {
            if (tiers.Count == 0)
            {
                throw StrataException.Invalid("restrictions.allowedTiers", "an empty list would forbid every workload; list at least one tier, or leave it unset to allow all");
            }
            foreach (var t in tiers)
            {
                if (!TierNames.TryParse(t, out _))
                {
                    throw StrataException.Invalid("restrictions.allowedTiers", $"'{t}' is not a tier; use process, container, sandbox, vm or wasm");
                }
            }
            r = r with { AllowedTiers = [.. tiers.Select(t => t.Trim().ToLowerInvariant()).Distinct()] };
        }
        if (r.MinimumTierForUntrusted is { } min)
        {
            if (!TierNames.TryParse(min, out var tier) || tier == Tier.Fake || _tiers.Of(tier)?.HoldsUntrustedCode != true)
            {
                var holding = TierNames.UserTiers.Where(t => _tiers.Of(t)?.HoldsUntrustedCode == true).Select(t => t.ToName());
                throw StrataException.Invalid("restrictions.minimumTierForUntrusted",
                    $"'{min}' is not allowed: untrusted code runs only behind a boundary made for it; use {string.Join(", ", holding)}");
            }
            r = r with { MinimumTierForUntrusted = tier.ToName() };
        }
        return r;
    }

    // ---------------------------------------------------------------- tokens

    /// <summary>Makes a token; the returned secret is the only copy (the store keeps its hash).</summary>
    public async Task<(TokenRecord Record, string Token)> CreateTokenAsync(string project, string role, string? description, CancellationToken cancellationToken)
    {
        if (ProjectRoles.Rank(role) < 0)
        {
            throw StrataException.Invalid("role", $"'{role}' is not a role; use viewer, operator or admin");
        }
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        var token = $"{TokenPrefix}{id}_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32))}";
        var record = new TokenRecord
        {
            Id = id,
            Project = project,
            Role = role,
            Hash = Hash(token),
            Description = description,
            CreatedAt = _time.GetUtcNow(),
        };
        await _writes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Get(project);
            await _store.InsertTokenAsync(record, CancellationToken.None).ConfigureAwait(false);
            _tokens[id] = record;
        }
        finally
        {
            _writes.Release();
        }
        return (record, token);
    }

    public IReadOnlyList<TokenRecord> ListTokens(string project) =>
        [.. _tokens.Values.Where(t => t.Project == project).OrderBy(t => t.CreatedAt)];

    /// <summary>Revokes a token of the project; from the moment this returns, the token is refused.</summary>
    public async Task RevokeTokenAsync(string project, string id, CancellationToken cancellationToken)
    {
        await _writes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_tokens.TryGetValue(id, out var token) || token.Project != project)
            {
                throw StrataException.NotFound($"no token '{id}' in project '{project}'; 'strata project token ls' lists them");
            }
            // Out of the in-memory view first: if the store write fails, the token is still refused now.
            _tokens.TryRemove(id, out _);
            await _store.DeleteTokenAsync(id, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            _writes.Release();
        }
    }

    /// <summary>
    /// Whether the store is shared with other nodes (a cluster's etcd): then a token this view does not know may have
    /// been made on another node a moment ago, and <see cref="AuthenticateAsync"/> reads the store once more before
    /// refusing it. Set by the cluster's project sync when it starts following the store.
    /// </summary>
    public bool SharedStore { get; set; }

    /// <summary>
    /// <see cref="Authenticate"/>, and with a <see cref="SharedStore"/> one more read of the store when the token's id
    /// is not in the view: another node's new token reaches this view through a watch, milliseconds later (more on a
    /// loaded host), and a client may present it here first. Requests that miss at the same time share one read that
    /// started after they arrived; a revoked or wrong token is refused as before (the read never resurrects one).
    /// </summary>
    public async Task<TokenRecord?> AuthenticateAsync(string bearer, CancellationToken cancellationToken)
    {
        var arrived = System.Diagnostics.Stopwatch.GetTimestamp();
        if (Authenticate(bearer) is { } known)
        {
            return known;
        }
        if (!SharedStore || TokenId(bearer) is not { } id || _tokens.ContainsKey(id))
        {
            return null;
        }
        await _catchUp.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Read and written only under _catchUp.
            if (_catchUpStarted <= arrived)
            {
                _catchUpStarted = System.Diagnostics.Stopwatch.GetTimestamp();
                await ReloadAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _catchUp.Release();
        }
        return Authenticate(bearer);
    }

    private static string? TokenId(string bearer)
    {
        if (!bearer.StartsWith(TokenPrefix, StringComparison.Ordinal))
        {
            return null;
        }
        var rest = bearer.AsSpan(TokenPrefix.Length);
        var sep = rest.IndexOf('_');
        return sep > 0 ? rest[..sep].ToString() : null;
    }

    /// <summary>The token's record when the bearer token is a live token of an existing project; otherwise null.</summary>
    public TokenRecord? Authenticate(string bearer)
    {
        if (TokenId(bearer) is not { } id || !_tokens.TryGetValue(id, out var record))
        {
            return null;
        }
        var presented = Encoding.ASCII.GetBytes(Hash(bearer));
        var stored = Encoding.ASCII.GetBytes(record.Hash);
        if (!CryptographicOperations.FixedTimeEquals(presented, stored) || !_projects.ContainsKey(record.Project))
        {
            return null;
        }
        // Re-check after the comparison: a revoke that finished meanwhile wins.
        return _tokens.ContainsKey(record.Id) ? record : null;
    }

    private static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
}
