using System.Text;
using Strata.Client;
using Strata.Contracts;
using Strata.Control;
using Strata.Testing;

namespace Strata.Daemon.Tests;

/// <summary>Bad input through the API: limits beyond the host, NUL bytes, parameters that do not bind. Every 400 is a problem document.</summary>
public sealed class InputBoundsTests : IAsyncLifetime
{
    private InProcessDaemon _daemon = null!;
    private StrataClient _client = null!;

    public async Task InitializeAsync()
    {
        _daemon = await InProcessDaemon.StartAsync();
        _client = _daemon.Client();
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _daemon.DisposeAsync();
    }

    [Fact]
    public async Task Create_LimitsLargerThanTheHost_Are400NamingTheFieldAndTheHostsSize_NothingCreated()
    {
        var host = HostCapacity.Current;
        var memory = await Assert.ThrowsAsync<StrataApiException>(() => _client.CreateAsync(new InstanceSpec
        {
            Name = "huge", Tier = "fake", Args = ["sleep"], Resources = new ResourceSpec { MemoryBytes = 1L << 60 },
        }));
        Assert.Equal(400, memory.Status);
        Assert.Equal("resources.memoryBytes", memory.Field);
        Assert.Contains($"{host.MemoryBytes >> 20} MiB", memory.Message, StringComparison.Ordinal);

        var cpus = await Assert.ThrowsAsync<StrataApiException>(() => _client.CreateAsync(new InstanceSpec
        {
            Name = "huge", Tier = "fake", Args = ["sleep"], Resources = new ResourceSpec { Cpus = 1000 },
        }));
        Assert.Equal(400, cpus.Status);
        Assert.Equal("resources.cpus", cpus.Field);
        Assert.Contains($"({host.Cpus} CPUs)", cpus.Message, StringComparison.Ordinal);
        Assert.Empty((await _client.ListAsync()).Items);
    }

    [Theory]
    [InlineData("""{"spec":{"name":"n1","tier":"fake","command":["sleep\u0000x"]}}""", "command[0]")]
    [InlineData("""{"spec":{"name":"n2","tier":"fake","args":["sleep","a\u0000b"]}}""", "args[1]")]
    [InlineData("""{"spec":{"name":"n3","tier":"fake","args":["sleep"],"env":{"A":"1\u0000B=2"}}}""", "env.A")]
    public async Task Create_NulByte_Is400NamingTheField_NothingCreated(string json, string field)
    {
        using var http = _daemon.Http();
        using var response = await http.PostAsync("v1/instances", new StringContent(json, Encoding.UTF8, "application/json"));
        var problem = await ProblemDocuments.BadRequestAsync(response);
        Assert.Equal(field, problem.Field);
        Assert.Contains("NUL", problem.Detail, StringComparison.Ordinal);
        Assert.Empty((await _client.ListAsync()).Items);
    }

    [Theory]
    [InlineData("POST", "v1/instances/web/stop?timeout=99999999999", "timeout")]
    [InlineData("POST", "v1/instances/web/stop?timeout=soon", "timeout")]
    [InlineData("GET", "v1/instances/web/logs?tail=many", "tail")]
    [InlineData("DELETE", "v1/images/busybox?force=maybe", "force")]
    public async Task QueryParameterThatDoesNotBind_Is400ProblemDocumentNamingIt(string method, string path, string field)
    {
        await _client.CreateAsync(new InstanceSpec { Name = "web", Tier = "fake", Args = ["sleep"] });
        using var http = _daemon.Http();
        using var response = await http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        var problem = await ProblemDocuments.BadRequestAsync(response);
        Assert.Equal(field, problem.Field);
        Assert.Equal("running", (await _client.GetAsync("web")).State);
    }
}
