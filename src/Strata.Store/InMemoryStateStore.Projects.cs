using Strata.Contracts;

namespace Strata.Store;

public sealed partial class InMemoryStateStore : IProjectStore
{
    private readonly Dictionary<string, ProjectRecord> _projects = new(StringComparer.Ordinal)
    {
        ["default"] = new ProjectRecord { Name = "default", Restrictions = ProjectRestrictions.Unrestricted, CreatedAt = DateTimeOffset.UnixEpoch },
    };
    private readonly Dictionary<string, TokenRecord> _tokens = new(StringComparer.Ordinal);

    public Task<IReadOnlyList<ProjectRecord>> ListProjectsAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<ProjectRecord>>([.. _projects.Values.OrderBy(p => p.CreatedAt).ThenBy(p => p.Name, StringComparer.Ordinal)]);
        }
    }

    public Task InsertProjectAsync(ProjectRecord project, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (!_projects.TryAdd(project.Name, project))
            {
                throw StrataException.Conflict($"a project named '{project.Name}' exists already");
            }
        }
        return Task.CompletedTask;
    }

    public Task UpdateProjectAsync(ProjectRecord project, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (!_projects.ContainsKey(project.Name))
            {
                throw StrataException.NotFound($"no project named '{project.Name}'");
            }
            _projects[project.Name] = project;
        }
        return Task.CompletedTask;
    }

    public Task<bool> DeleteProjectAsync(string name, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            foreach (var id in _tokens.Values.Where(t => t.Project == name).Select(t => t.Id).ToList())
            {
                _tokens.Remove(id);
            }
            return Task.FromResult(_projects.Remove(name));
        }
    }

    public Task<IReadOnlyList<TokenRecord>> ListTokensAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<TokenRecord>>([.. _tokens.Values.OrderBy(t => t.CreatedAt)]);
        }
    }

    public Task InsertTokenAsync(TokenRecord token, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (!_projects.ContainsKey(token.Project) || !_tokens.TryAdd(token.Id, token))
            {
                throw StrataException.Conflict($"token id '{token.Id}' exists already, or project '{token.Project}' is gone; retry");
            }
        }
        return Task.CompletedTask;
    }

    public Task<bool> DeleteTokenAsync(string id, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult(_tokens.Remove(id));
        }
    }
}
