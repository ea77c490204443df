using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Strata.Control;
using Strata.Control.Projects;
using Strata.Daemon;
using Strata.Daemon.DockerApi;
using Strata.Images;
using Strata.Node.Networking;
using Strata.Testing;

namespace Strata.DockerApi.Tests;

/// <summary>
/// A real stratad in the test process with two Docker API sockets (the default project's and project
/// <c>tenant</c>'s), the container tier on runc, networks of this run's own names, and busybox in the image store
/// (built from the host's busybox-static, as <c>strata image build-base</c> does), and a real docker-registry on
/// loopback that the daemon trusts over plain HTTP (<c>--insecure-registry</c>). Needs root, runc, a published
/// strata-supervisor and a <c>docker</c> CLI; fails without them under CI=true, skips otherwise.
/// </summary>
public sealed class DockerFixture : IAsyncLifetime
{
    private static readonly string s_tag = string.Concat(Enumerable.Range(0, 4).Select(_ => (char)('a' + Random.Shared.Next(26))));
    private readonly TempDirectory _dir = new("strata-dk");
    private DaemonHost? _host;

    public string Root => _dir.Combine("root");
    public string Socket => _dir.Combine("s.sock");
    public string DockerSocket => _dir.Combine("d.sock");
    public string TenantSocket => _dir.Combine("t.sock");
    public string ConfigDirectory => _dir.Combine("docker-config");
    public string? MissingReason { get; private set; }
    public string Docker { get; private set; } = "docker";

    /// <summary>The test registry (null when docker-registry is not installed; the pull tests then skip or fail in CI).</summary>
    public RealRegistry? Registry { get; private set; }
    public IServiceProvider Services => _host!.Services;
    public InstanceService Instances => Services.GetRequiredService<InstanceService>();

    /// <summary>Names unique to this run, for containers and networks (other test runs share the host).</summary>
    public string Name(string what) => $"dk{s_tag}-{what}";

    public async Task InitializeAsync()
    {
        var docker = TestEnvironment.Which("docker");
        MissingReason = !TestEnvironment.IsRoot ? "the Docker API tests need root"
            : TestEnvironment.Supervisor is null ? "strata-supervisor is not published; run scripts/publish-native.sh"
            : TestEnvironment.Which("runc") is null ? "runc is not installed (scripts/install-deps.sh)"
            : docker is null ? "no docker CLI (apt-get install docker.io; scripts/deps/docker-api.txt)"
            : !File.Exists("/bin/busybox") ? "busybox-static is not installed"
            : null;
        if (MissingReason is not null)
        {
            return;
        }
        Docker = docker!;
        Directory.CreateDirectory(ConfigDirectory);
        Registry = File.Exists("/usr/bin/docker-registry") ? new RealRegistry() : null;
        _host = await DaemonHost.StartAsync(new DaemonOptions
        {
            Root = Root,
            Socket = Socket,
            Supervisor = TestEnvironment.Supervisor,
            InsecureRegistries = Registry is null ? [] : [Registry.Host],
            DockerSockets = [new DockerSocketOptions(DockerSocket), new DockerSocketOptions(TenantSocket, "tenant")],
            Networks = new NetworkOptions
            {
                StateDirectory = Path.Combine(Root, "networks"),
                DefaultNetwork = $"dk{s_tag}0",
                DefaultSubnet = "10.241.0.0/24",
                SubnetPool = "10.242.0.0/16",
                BridgePrefix = "sdk" + s_tag,
                NamespacePrefix = $"sdk-{s_tag}-",
                TapPrefix = "sdt" + s_tag,
            },
        }, logging => logging.SetMinimumLevel(LogLevel.Warning));
        await Services.GetRequiredService<ProjectService>().CreateAsync(new Contracts.CreateProjectRequest { Name = "tenant" }, CancellationToken.None);
        await Services.GetRequiredService<ImageStore>().BuildBusyboxBaseAsync("busybox:latest");
    }

    public void RequireEngine()
    {
        if (MissingReason is null)
        {
            return;
        }
        if (TestEnvironment.IsCi)
        {
            Assert.Fail(MissingReason);
        }
        Skip.If(true, MissingReason);
    }

    /// <summary>Runs the docker CLI against the default project's socket (or <paramref name="socket"/>).</summary>
    public async Task<(int Code, string Out, string Err)> RunAsync(string arguments, string? socket = null, string? input = null, TimeSpan? timeout = null,
        string? docker = null)
    {
        var environment = new Dictionary<string, string?>
        {
            ["DOCKER_HOST"] = "unix://" + (socket ?? DockerSocket),
            ["DOCKER_CONFIG"] = ConfigDirectory,
            ["DOCKER_CONTEXT"] = null,
        };
        return await ChildProcess.RunAsync(docker ?? Docker, Split(arguments), timeout ?? TimeSpan.FromSeconds(120), environment, stdin: input ?? "");
    }

    /// <summary>Like <see cref="RunAsync"/>, and the command must succeed.</summary>
    public async Task<string> OkAsync(string arguments, string? socket = null, string? input = null, string? docker = null)
    {
        var (code, stdout, stderr) = await RunAsync(arguments, socket, input, docker: docker);
        Assert.True(code == 0, $"docker {arguments} exited {code}: {stderr}{stdout}");
        return stdout;
    }

    /// <summary>Whitespace-separated arguments; single quotes keep a part whole.</summary>
    private static IEnumerable<string> Split(string arguments)
    {
        var parts = arguments.Split('\'');
        for (var i = 0; i < parts.Length; i++)
        {
            if (i % 2 == 1)
            {
                yield return parts[i];
                continue;
            }
            foreach (var word in parts[i].Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                yield return word;
            }
        }
    }

    /// <summary>The page a published port serves, once it answers (the server may still be starting).</summary>
    public static async Task<string> GetPageAsync(int port, string what)
    {
        using var http = new HttpClient();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                return await http.GetStringAsync($"http://127.0.0.1:{port}/");
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
            catch (HttpRequestException e)
            {
                throw new TimeoutException($"{what}: port {port} never answered", e);
            }
        }
    }

    /// <summary>A TCP port on loopback that nothing listens on now.</summary>
    public static int FreePort() => TestEnvironment.FreeLoopbackPort();

    public HttpClient Http(string? socket = null) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, ct) =>
        {
            var s = new System.Net.Sockets.Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await s.ConnectAsync(new UnixDomainSocketEndPoint(socket ?? DockerSocket), ct);
            return new NetworkStream(s, ownsSocket: true);
        },
    })
    { BaseAddress = new Uri("http://docker/") };

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            // Instances outlive a daemon by design: stop and remove this run's, then the networks they used.
            foreach (var project in new[] { "default", "tenant" })
            {
                foreach (var r in Instances.List(project))
                {
                    try
                    {
                        await Instances.DeleteAsync(project, r.Name, force: true, CancellationToken.None);
                    }
                    catch (Contracts.StrataException)
                    {
                    }
                }
                var networks = Services.GetRequiredService<NetworkRegistry>();
                foreach (var n in networks.List(project).Where(n => n.Project is not null || n.Name == networks.DefaultNetwork))
                {
                    try
                    {
                        await networks.RemoveAsync(n.Name, project, CancellationToken.None);
                    }
                    catch (Contracts.StrataException)
                    {
                    }
                }
            }
            await _host.DisposeAsync();
        }
        Registry?.Dispose();
        var below = Root.TrimEnd('/') + "/";
        foreach (var mountPoint in File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4])
                     .Where(m => m.StartsWith(below, StringComparison.Ordinal)).OrderByDescending(m => m.Length))
        {
            using var umount = Process.Start("umount", ["-l", mountPoint]);
            await umount.WaitForExitAsync();
        }
        _dir.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class DockerCollection : ICollectionFixture<DockerFixture>
{
    public const string Name = "docker";
}
