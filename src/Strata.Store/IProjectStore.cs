using Strata.Contracts;

namespace Strata.Store;

/// <summary>A project as persisted: its limits and rules. Instances refer to it by name.</summary>
public sealed record ProjectRecord
{
    public required string Name { get; init; }
    public string? Description { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public ProjectQuota Quota { get; init; } = new();
    public ProjectRestrictions Restrictions { get; init; } = new();
    /// <summary>The right-sizing mode its instances follow unless they set their own; null: <c>recommend</c>.</summary>
    public string? Rightsize { get; init; }
}

/// <summary>An API token as persisted: only the SHA-256 of the secret is kept, never the secret.</summary>
public sealed record TokenRecord
{
    public required string Id { get; init; }
    public required string Project { get; init; }
    public required string Role { get; init; }
    /// <summary>Lower-case hex SHA-256 of the whole bearer token.</summary>
    public required string Hash { get; init; }
    public string? Description { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
}

/// <summary>
/// Durable projects and tokens. Implemented by <see cref="SqliteStateStore"/> (same database as the instances)
/// and <see cref="InMemoryStateStore"/>. The <c>default</c> project always exists after opening.
/// </summary>
public interface IProjectStore
{
    Task<IReadOnlyList<ProjectRecord>> ListProjectsAsync(CancellationToken cancellationToken = default);

    /// <summary>Throws a Conflict StrataException if the name exists.</summary>
    Task InsertProjectAsync(ProjectRecord project, CancellationToken cancellationToken = default);

    /// <summary>Throws NotFound if it is gone.</summary>
    Task UpdateProjectAsync(ProjectRecord project, CancellationToken cancellationToken = default);

    /// <summary>Removes the project and its tokens.</summary>
    Task<bool> DeleteProjectAsync(string name, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<TokenRecord>> ListTokensAsync(CancellationToken cancellationToken = default);

    Task InsertTokenAsync(TokenRecord token, CancellationToken cancellationToken = default);

    Task<bool> DeleteTokenAsync(string id, CancellationToken cancellationToken = default);
}
