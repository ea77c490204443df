using Microsoft.Extensions.Logging;
using Strata.Client;
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

    public StrataClient Client(string? project = null) => new(new ClientOptions { Socket = Socket, Project = project ?? "default" });

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
