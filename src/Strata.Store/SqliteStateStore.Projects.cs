using System.Text.Json;
using Microsoft.Data.Sqlite;
using Strata.Contracts;

namespace Strata.Store;

public sealed partial class SqliteStateStore : IProjectStore
{
    public Task<IReadOnlyList<ProjectRecord>> ListProjectsAsync(CancellationToken cancellationToken = default) =>
        WithConnectionAsync<IReadOnlyList<ProjectRecord>>(connection => ReadAll(connection,
            "SELECT name, description, created_at, quota, restrictions, rightsize FROM projects ORDER BY created_at, name;",
            reader => new ProjectRecord
            {
                Name = reader.GetString(0),
                Description = reader.IsDBNull(1) ? null : reader.GetString(1),
                CreatedAt = ParseTime(reader.GetString(2)),
                Quota = JsonSerializer.Deserialize(reader.GetString(3), StrataJsonContext.Default.ProjectQuota)!,
                Restrictions = JsonSerializer.Deserialize(reader.GetString(4), StrataJsonContext.Default.ProjectRestrictions)!,
                Rightsize = reader.IsDBNull(5) ? null : reader.GetString(5),
            }), cancellationToken);

    public async Task InsertProjectAsync(ProjectRecord project, CancellationToken cancellationToken = default)
    {
        try
        {
            await WithConnectionAsync(connection =>
            {
                using var command = Command(connection, "INSERT INTO projects (name, description, created_at, quota, restrictions, rightsize) VALUES ($name, $description, $created_at, $quota, $restrictions, $rightsize);");
                BindProject(command, project);
                command.ExecuteNonQuery();
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 19 /* SQLITE_CONSTRAINT */)
        {
            throw StrataException.Conflict($"a project named '{project.Name}' exists already");
        }
    }

    public Task UpdateProjectAsync(ProjectRecord project, CancellationToken cancellationToken = default) =>
        WithConnectionAsync(connection =>
        {
            using var command = Command(connection, "UPDATE projects SET description = $description, created_at = $created_at, quota = $quota, restrictions = $restrictions, rightsize = $rightsize WHERE name = $name;");
            BindProject(command, project);
            if (command.ExecuteNonQuery() != 1)
            {
                throw StrataException.NotFound($"no project named '{project.Name}'");
            }
        }, cancellationToken);

    public Task<bool> DeleteProjectAsync(string name, CancellationToken cancellationToken = default) =>
        WithConnectionAsync(connection => ExecuteInTransaction(connection,
            ["DELETE FROM tokens WHERE project = $name;", "DELETE FROM projects WHERE name = $name;"],
            ("$name", name))[1] == 1, cancellationToken);

    public Task<IReadOnlyList<TokenRecord>> ListTokensAsync(CancellationToken cancellationToken = default) =>
        WithConnectionAsync<IReadOnlyList<TokenRecord>>(connection => ReadAll(connection,
            "SELECT id, project, role, hash, description, created_at FROM tokens ORDER BY created_at, id;",
            reader => new TokenRecord
            {
                Id = reader.GetString(0),
                Project = reader.GetString(1),
                Role = reader.GetString(2),
                Hash = reader.GetString(3),
                Description = reader.IsDBNull(4) ? null : reader.GetString(4),
                CreatedAt = ParseTime(reader.GetString(5)),
            }), cancellationToken);

    public async Task InsertTokenAsync(TokenRecord token, CancellationToken cancellationToken = default)
    {
        try
        {
            await WithConnectionAsync(connection =>
            {
                using var command = Command(connection,
                    "INSERT INTO tokens (id, project, role, hash, description, created_at) VALUES ($id, $project, $role, $hash, $description, $created_at);",
                    ("$id", token.Id), ("$project", token.Project), ("$role", token.Role), ("$hash", token.Hash),
                    ("$description", (object?)token.Description ?? DBNull.Value), ("$created_at", Time(token.CreatedAt)));
                command.ExecuteNonQuery();
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 19 /* SQLITE_CONSTRAINT */)
        {
            throw StrataException.Conflict($"token id '{token.Id}' exists already, or project '{token.Project}' is gone; retry");
        }
    }

    public Task<bool> DeleteTokenAsync(string id, CancellationToken cancellationToken = default) =>
        WithConnectionAsync(connection =>
        {
            using var command = Command(connection, "DELETE FROM tokens WHERE id = $id;", ("$id", id));
            return command.ExecuteNonQuery() == 1;
        }, cancellationToken);

    private static void BindProject(SqliteCommand command, ProjectRecord project)
    {
        var p = command.Parameters;
        p.AddWithValue("$name", project.Name);
        p.AddWithValue("$description", (object?)project.Description ?? DBNull.Value);
        p.AddWithValue("$created_at", Time(project.CreatedAt));
        p.AddWithValue("$quota", JsonSerializer.Serialize(project.Quota, StrataJsonContext.Default.ProjectQuota));
        p.AddWithValue("$restrictions", JsonSerializer.Serialize(project.Restrictions, StrataJsonContext.Default.ProjectRestrictions));
        p.AddWithValue("$rightsize", (object?)project.Rightsize ?? DBNull.Value);
    }
}
