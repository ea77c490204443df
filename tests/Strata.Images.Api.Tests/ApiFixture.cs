using Microsoft.Extensions.Logging;
using Strata.Client;
using Strata.Daemon;
using Strata.Testing;

namespace Strata.Images.Api.Tests;

/// <summary>An in-process daemon on a temp root (fake tier enabled) and a client on its unix socket.</summary>
public sealed class ApiFixture : IAsyncDisposable
{
    private ApiFixture(TempDirectory dir, DaemonHost host, StrataClient client)
    {
        Dir = dir;
        Host = host;
        Client = client;
    }

    public TempDirectory Dir { get; }
    public DaemonHost Host { get; }
    public StrataClient Client { get; }

    /// <summary>The image store's directory under the data root.</summary>
    public string ImagesRoot => Dir.Combine("root", "images");

    public static async Task<ApiFixture> StartAsync(IReadOnlyList<string>? insecureRegistries = null)
    {
        var dir = new TempDirectory("strata-imgapi");
        try
        {
            var options = new DaemonOptions
            {
                Root = dir.Combine("root"),
                Socket = dir.Combine("s.sock"),
                EnableFakeTier = true,
                InsecureRegistries = insecureRegistries ?? [],
            };
            var host = await DaemonHost.StartAsync(options, l => l.ClearProviders());
            return new ApiFixture(dir, host, new StrataClient(new ClientOptions { Socket = options.Socket }));
        }
        catch
        {
            dir.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Host.DisposeAsync();
        Dir.Dispose();
    }
}
