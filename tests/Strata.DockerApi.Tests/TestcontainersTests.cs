using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Configurations;

namespace Strata.DockerApi.Tests;

/// <summary>Testcontainers for .NET (Docker.DotNet underneath) drives Strata as it drives Docker.</summary>
[Collection(DockerCollection.Name)]
public sealed class TestcontainersTests(DockerFixture fx)
{
    [SkippableFact]
    public async Task Busybox_StartsWithLogWait_Execs_MapsAPort_AndIsDisposed()
    {
        fx.RequireEngine();
        // The resource reaper is an image from Docker Hub (out of reach here); disposal removes the container itself.
        TestcontainersSettings.ResourceReaperEnabled = false;
        var container = new ContainerBuilder("busybox:latest")
            .WithDockerEndpoint($"unix://{fx.DockerSocket}")
            .WithCommand("sh", "-c", "mkdir -p /w && echo from-testcontainers > /w/index.html && echo ready to serve && exec httpd -f -p 8080 -h /w")
            .WithPortBinding(8080, assignRandomHostPort: true)
            .WithWaitStrategy(Wait.ForUnixContainer().UntilMessageIsLogged("ready to serve"))
            .Build();
        string? name = null;
        try
        {
            await container.StartAsync();
            name = container.Name.TrimStart('/');
            Assert.Contains(fx.Instances.List("default"), r => r.Name == name);

            var exec = await container.ExecAsync(["sh", "-c", "echo exec-ok; echo to-stderr >&2; exit 4"]);
            Assert.Equal(4, exec.ExitCode);
            Assert.Equal("exec-ok\n", exec.Stdout);
            Assert.Equal("to-stderr\n", exec.Stderr);

            var port = container.GetMappedPublicPort(8080);
            var page = await DockerFixture.GetPageAsync(port, "the mapped port");
            Assert.Equal("from-testcontainers\n", page);
        }
        finally
        {
            await container.DisposeAsync();
        }
        Assert.DoesNotContain(fx.Instances.List("default"), r => r.Name == name);
    }
}
