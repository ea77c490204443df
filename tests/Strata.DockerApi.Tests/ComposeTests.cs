using System.Diagnostics;
using Strata.Testing;

namespace Strata.DockerApi.Tests;

/// <summary>docker-compose 1.29 (Debian's, docker-py underneath) brings a two-service project up and down on Strata.</summary>
[Collection(DockerCollection.Name)]
public sealed class ComposeTests(DockerFixture fx)
{
    [SkippableFact]
    public async Task Compose_UpPsLogsDown_WebAndClientByServiceName_PortAndNamedVolume()
    {
        fx.RequireEngine();
        var compose = TestEnvironment.Which("docker-compose");
        if (compose is null)
        {
            Assert.False(TestEnvironment.IsCi, "docker-compose is not installed (scripts/deps/docker-api.txt)");
            Skip.If(true, "docker-compose is not installed (apt-get install docker-compose)");
        }
        var project = fx.Name("cp").Replace("-", "", StringComparison.Ordinal);
        var port = DockerFixture.FreePort();
        var dir = Path.Combine(fx.ConfigDirectory, project);
        Directory.CreateDirectory(dir);
        await File.WriteAllTextAsync(Path.Combine(dir, "docker-compose.yml"), $$"""
            version: "3"
            services:
              web:
                image: busybox
                command: sh -c "mkdir -p /data && echo hello-compose > /data/index.html && exec httpd -f -p 80 -h /data"
                ports:
                  - "127.0.0.1:{{port}}:80"
                volumes:
                  - webdata:/data
              client:
                image: busybox
                command: sh -c "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://web/ && exit 0; sleep 0.5; done; exit 1"
                depends_on:
                  - web
            volumes:
              webdata:
            """);

        async Task<string> ComposeAsync(string arguments)
        {
            var info = new ProcessStartInfo(compose!) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in $"-p {project} {arguments}".Split(' '))
            {
                info.ArgumentList.Add(a);
            }
            info.Environment["DOCKER_HOST"] = "unix://" + fx.DockerSocket;
            info.Environment["DOCKER_CONFIG"] = fx.ConfigDirectory;
            info.Environment["COMPOSE_INTERACTIVE_NO_CLI"] = "1";
            using var p = Process.Start(info)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            await p.WaitForExitAsync(cts.Token);
            Assert.True(p.ExitCode == 0, $"docker-compose {arguments} exited {p.ExitCode}: {await stderr}{await stdout}");
            return await stdout + await stderr;
        }

        try
        {
            await ComposeAsync("up -d");
            var page = await DockerFixture.GetPageAsync(port, "the web service's published port");
            Assert.Equal("hello-compose\n", page);

            var ps = await ComposeAsync("ps");
            Assert.Contains($"{project}-web-1", ps);
            Assert.Contains($"{project}-client-1", ps);

            // The client reached the web server by its service name, then exited 0.
            var exit = await fx.OkAsync($"wait {project}_client_1");
            Assert.Equal("0", exit.Trim());
            Assert.Contains("hello-compose", await ComposeAsync("logs client"));
            Assert.Contains($"{project}_webdata", await fx.OkAsync("volume ls --format '{{.Name}}'"));
        }
        finally
        {
            await ComposeAsync("down -v");
        }
        Assert.DoesNotContain(fx.Instances.List("default"), r => r.Name.StartsWith(project, StringComparison.Ordinal));
        Assert.DoesNotContain(project, await fx.OkAsync("network ls --format '{{.Name}}'"));
        Assert.DoesNotContain(project, await fx.OkAsync("volume ls --format '{{.Name}}'"));
    }
}
