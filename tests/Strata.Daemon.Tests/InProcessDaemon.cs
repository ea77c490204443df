using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Strata.Client;
using Strata.Control.Usage;
using Strata.Testing;

namespace Strata.Daemon.Tests;

/// <summary>A real daemon (Kestrel on a unix socket, SQLite store) inside the test process, with the fake tier on.</summary>
public sealed class InProcessDaemon : IAsyncDisposable
{
    private readonly TempDirectory _dir = new("strata-api");
    private DaemonHost? _host;

    public string Root => _dir.Combine("root");
    public string Socket => _dir.Combine("s.sock");
    public DaemonOptions Options { get; private set; } = null!;

    public static async Task<InProcessDaemon> StartAsync(Func<DaemonOptions, DaemonOptions>? configure = null, Action<ILoggingBuilder>? logging = null)
    {
        var d = new InProcessDaemon();
        var supervisor = Path.Combine(TestEnvironment.ArtifactsBin, "strata-supervisor");
        d.Options = new DaemonOptions
        {
            Root = d.Root,
            Socket = d.Socket,
            EnableFakeTier = true,
            Supervisor = File.Exists(supervisor) ? supervisor : null,
        };
        d.Options = configure?.Invoke(d.Options) ?? d.Options;
        d._host = await DaemonHost.StartAsync(d.Options, logging ?? (l => l.SetMinimumLevel(Microsoft.Extensions.Logging.LogLevel.Warning)));
        return d;
    }

    /// <summary>
    /// <see cref="StartAsync"/> with a TCP listener on a free loopback port as well, where project tokens are taken
    /// (<see cref="Tcp"/>); the Unix socket's <see cref="Client"/> stays the administrator.
    /// </summary>
    public static Task<InProcessDaemon> StartWithTcpAsync(Func<DaemonOptions, DaemonOptions>? configure = null, Action<ILoggingBuilder>? logging = null)
    {
        var port = NetworkCensus.FreePort();
        return StartAsync(o =>
        {
            var tcp = o with { Listen = new IPEndPoint(IPAddress.Loopback, port) };
            return configure?.Invoke(tcp) ?? tcp;
        }, logging);
    }

    public StrataClient Client(string? project = null) => new(new ClientOptions { Socket = Socket, Project = project ?? "default" });

    /// <summary>The TCP port of a daemon started by <see cref="StartWithTcpAsync"/>.</summary>
    public int Port => Options.Listen?.Port ?? throw new InvalidOperationException("this daemon has no TCP listener; start it with StartWithTcpAsync");

    /// <summary>A client of the TCP listener with a project's <paramref name="token"/> (and, for an administrator's token, a project).</summary>
    public StrataClient Tcp(string? token, string? project = null) =>
        new(new ClientOptions { Host = new Uri($"http://127.0.0.1:{Port}"), Token = token, Project = project });

    /// <summary>
    /// Drives <paramref name="rounds"/> rounds of the usage sampler (start the daemon with <c>UsageIntervalSeconds = 0</c>
    /// so that the test alone decides when a round runs), a few milliseconds apart: CPU use is the difference of two
    /// readings over real time.
    /// </summary>
    public async Task SampleUsageAsync(int rounds)
    {
        var sampler = Services.GetRequiredService<UsageSampler>();
        for (var i = 0; i < rounds; i++)
        {
            await sampler.SampleOnceAsync(CancellationToken.None);
            await Task.Delay(5);
        }
    }

    public HttpClient Http()
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                await s.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(Socket), ct);
                return new System.Net.Sockets.NetworkStream(s, ownsSocket: true);
            },
        };
        return new HttpClient(handler) { BaseAddress = new Uri("http://strata/") };
    }

    public IServiceProvider Services => _host!.Services;

    public async Task RestartAsync()
    {
        await _host!.DisposeAsync();
        _host = await DaemonHost.StartAsync(Options, logging => logging.SetMinimumLevel(Microsoft.Extensions.Logging.LogLevel.Warning));
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
        _dir.Dispose();
    }
}
