using Strata.Contracts;
using Strata.Daemon.Api;

namespace Strata.Daemon.Tests;

/// <summary>
/// The role table in one place: routes match without regard to case, so a check that looked at the path's case
/// would let <c>/CONSOLE</c> or <c>/COMMIT</c> past it with a weaker role than the route needs.
/// </summary>
public sealed class PermissionsTests
{
    [Theory]
    [InlineData("/v1/instances/web/console")]
    [InlineData("/v1/instances/web/CONSOLE")]
    [InlineData("/v1/instances/web/exec/attach")]
    [InlineData("/v1/instances/web/EXEC/Attach")]
    public void Required_TerminalWebSocket_NeedsAnOperatorWhateverTheCase(string path) =>
        Assert.Equal(ProjectRoles.Operator, Permissions.Required("GET", path));

    [Theory]
    [InlineData("/v1/instances/web/commit")]
    [InlineData("/v1/instances/web/Commit")]
    public void Required_Commit_IsForHostAdministratorsWhateverTheCase(string path) =>
        Assert.Null(Permissions.Required("POST", path));

    [Theory]
    [InlineData("/v1/instances")]
    [InlineData("/v1/instances/web")]
    [InlineData("/v1/instances/web/logs")]
    public void Required_ReadingInstances_IsForViewers(string path) =>
        Assert.Equal(ProjectRoles.Viewer, Permissions.Required("GET", path));

    [Fact]
    public void Required_BenchResults_ReadByViewers_StoredByHostAdministratorsOnly()
    {
        Assert.Equal(ProjectRoles.Viewer, Permissions.Required("GET", "/v1/bench/results"));
        Assert.Null(Permissions.Required("PUT", "/v1/bench/results"));
    }
}
