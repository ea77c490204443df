using System.Text.Json;
using Microsoft.Data.Sqlite;
using Strata.Contracts;

namespace Strata.Store;

public sealed partial class SqliteStateStore : IProjectStore
{
    public async Task<IReadOnlyList<ProjectRecord>> ListProjectsAsync(CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT name, description, created_at, quota, restrictions FROM projects ORDER BY created_at, name;";
            using var reader = command.ExecuteReader();
            var result = new List<ProjectRecord>();
            while (reader.Read())
            {
                result.Add(new ProjectRecord
                {
                    Name = reader.GetString(0),
                    Description = reader.IsDBNull(1) ? null : reader.GetString(1),
                    CreatedAt = ParseTime(reader.GetString(2)),
                    Quota = JsonSerializer.Deserialize(reader.GetString(3), StrataJsonContext.Default.ProjectQuota)!,
                    Restrictions = JsonSerializer.Deserialize(reader.GetString(4), StrataJsonContext.Default.ProjectRestrictions)!,
                });
            }
            return result;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task InsertProjectAsync(ProjectRecord project, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "INSERT INTO projects (name, description, created_at, quota, restrictions) VALUES ($name, $description, $created_at, $quota, $restrictions);";
            BindProject(command, project);
            command.ExecuteNonQuery();
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 19 /* SQLITE_CONSTRAINT */)
        {
            throw StrataException.Conflict($"a project named '{project.Name}' exists already");
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task UpdateProjectAsync(ProjectRecord project, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "UPDATE projects SET description = $description, created_at = $created_at, quota = $quota, restrictions = $restrictions WHERE name = $name;";
            BindProject(command, project);
            if (command.ExecuteNonQuery() != 1)
            {
                throw StrataException.NotFound($"no project named '{project.Name}'");
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task<bool> DeleteProjectAsync(string name, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var tx = _connection.BeginTransaction();
            using (var tokens = _connection.CreateCommand())
            {
                tokens.Transaction = tx;
                tokens.CommandText = "DELETE FROM tokens WHERE project = $name;";
                tokens.Parameters.AddWithValue("$name", name);
                tokens.ExecuteNonQuery();
            }
            int n;
            using (var command = _connection.CreateCommand())
            {
                command.Transaction = tx;
                command.CommandText = "DELETE FROM projects WHERE name = $name;";
                command.Parameters.AddWithValue("$name", name);
                n = command.ExecuteNonQuery();
            }
            tx.Commit();
            return n == 1;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task<IReadOnlyList<TokenRecord>> ListTokensAsync(CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT id, project, role, hash, description, created_at FROM tokens ORDER BY created_at, id;";
            using var reader = command.ExecuteReader();
            var result = new List<TokenRecord>();
            while (reader.Read())
            {
                result.Add(new TokenRecord
                {
                    Id = reader.GetString(0),
                    Project = reader.GetString(1),
                    Role = reader.GetString(2),
                    Hash = reader.GetString(3),
                    Description = reader.IsDBNull(4) ? null : reader.GetString(4),
                    CreatedAt = ParseTime(reader.GetString(5)),
                });
            }
            return result;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task InsertTokenAsync(TokenRecord token, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "INSERT INTO tokens (id, project, role, hash, description, created_at) VALUES ($id, $project, $role, $hash, $description, $created_at);";
            var p = command.Parameters;
            p.AddWithValue("$id", token.Id);
            p.AddWithValue("$project", token.Project);
            p.AddWithValue("$role", token.Role);
            p.AddWithValue("$hash", token.Hash);
            p.AddWithValue("$description", (object?)token.Description ?? DBNull.Value);
            p.AddWithValue("$created_at", Time(token.CreatedAt));
            command.ExecuteNonQuery();
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 19 /* SQLITE_CONSTRAINT */)
        {
            throw StrataException.Conflict($"token id '{token.Id}' exists already, or project '{token.Project}' is gone; retry");
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task<bool> DeleteTokenAsync(string id, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "DELETE FROM tokens WHERE id = $id;";
            command.Parameters.AddWithValue("$id", id);
            return command.ExecuteNonQuery() == 1;
        }
        finally
        {
            _gate.Release();
        }
    }

    private static void BindProject(SqliteCommand command, ProjectRecord project)
    {
        var p = command.Parameters;
        p.AddWithValue("$name", project.Name);
        p.AddWithValue("$description", (object?)project.Description ?? DBNull.Value);
        p.AddWithValue("$created_at", Time(project.CreatedAt));
        p.AddWithValue("$quota", JsonSerializer.Serialize(project.Quota, StrataJsonContext.Default.ProjectQuota));
        p.AddWithValue("$restrictions", JsonSerializer.Serialize(project.Restrictions, StrataJsonContext.Default.ProjectRestrictions));
    }
}
