using Strata.Contracts;
using Strata.Daemon;
using Strata.Daemon.DockerApi;

namespace Strata.DockerApi.Tests;

/// <summary>The docker socket flags of stratad.</summary>
public sealed class DockerOptionsTests
{
    [Fact]
    public void Default_IsOneSocketInTheDefaultProject()
    {
        var o = DaemonOptions.Parse([]);
        var socket = Assert.Single(o.DockerSockets);
        Assert.Equal(DockerSocketOptions.DefaultPath, socket.Path);
        Assert.Equal("default", socket.Project);
        Assert.Null(socket.Group);
    }

    [Fact]
    public void NoDockerSocket_ServesNone_AndContradictsAPath()
    {
        Assert.Empty(DaemonOptions.Parse(["--no-docker-socket"]).DockerSockets);
        var e = Assert.Throws<StrataException>(() => DaemonOptions.Parse(["--no-docker-socket", "--docker-socket", "/run/x.sock"]));
        Assert.Equal("--no-docker-socket", e.Field);
    }

    [Fact]
    public void ProjectAndGroup_BelongToTheSocketBeforeThem()
    {
        var o = DaemonOptions.Parse(["--docker-socket", "/run/a.sock", "--docker-socket=/run/b.sock", "--project", "team", "--socket-group", "team-docker"]);
        Assert.Equal([new DockerSocketOptions("/run/a.sock"), new DockerSocketOptions("/run/b.sock", "team", "team-docker")], o.DockerSockets);
        Assert.Equal("--project", Assert.Throws<StrataException>(() => DaemonOptions.Parse(["--project", "team"])).Field);
        Assert.Equal("--docker-socket", Assert.Throws<StrataException>(() => DaemonOptions.Parse(["--docker-socket", "relative.sock"])).Field);
        Assert.Equal("--docker-socket", Assert.Throws<StrataException>(() => DaemonOptions.Parse(["--docker-socket", "/a", "--docker-socket", "/a"])).Field);
    }
}
