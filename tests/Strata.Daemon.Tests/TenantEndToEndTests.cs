using System.Diagnostics;
using Strata.Testing;

namespace Strata.Daemon.Tests;

/// <summary>
/// Projects as an administrator and a tenant use them: the NativeAOT <c>strata</c> CLI against a real
/// <c>stratad</c> process with a TCP listener, a project token from the CLI, the token from the environment and
/// from the config file, and a revoke that takes effect at once.
/// </summary>
[Collection("end-to-end")]
public sealed class TenantEndToEndTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("strata-tenant-e2e");
    private readonly int _port = TestEnvironment.FreeLoopbackPort();
    private Process? _daemon;

    private string Socket => _dir.Combine("s.sock");
    private static string Cli => PublishedCli.Path;
    private static string Stratad => Path.Combine(TestEnvironment.ArtifactsBin, "stratad");

    public async Task InitializeAsync()
    {
        if (!File.Exists(Cli) || !File.Exists(Stratad))
        {
            return;
        }
        _daemon = await PublishedDaemon.StartAsync(Socket,
            ["--root", _dir.Combine("root"), "--socket", Socket, "--listen", $"127.0.0.1:{_port}", "--enable-fake-tier"]);
    }

    public Task DisposeAsync()
    {
        if (_daemon is { HasExited: false })
        {
            _daemon.Kill(entireProcessTree: true);
            _daemon.WaitForExit();
        }
        _daemon?.Dispose();
        _dir.Dispose();
        return Task.CompletedTask;
    }

    private (int Code, string Out, string Err) Admin(params string[] args) => Run(new() { ["STRATA_SOCKET"] = Socket }, args);

    private (int Code, string Out, string Err) Tenant(Dictionary<string, string> env, params string[] args)
    {
        env["STRATA_HOST"] = $"127.0.0.1:{_port}";
        env["STRATA_SOCKET"] = _dir.Combine("no-such.sock"); // a tenant never reaches the socket
        return Run(env, args);
    }

    private (int Code, string Out, string Err) Run(Dictionary<string, string> env, string[] args)
    {
        var environment = new Dictionary<string, string?> { ["STRATA_CONFIG"] = _dir.Combine("no-config.json") };
        foreach (var (k, v) in env)
        {
            environment[k] = v;
        }
        return PublishedCli.Run(environment, TimeSpan.FromSeconds(120), args);
    }

    [SkippableFact]
    public void ProjectToken_FromEnvAndConfigFile_ActsInItsProject_UntilRevoked()
    {
        TestEnvironment.Require(File.Exists(Cli) && File.Exists(Stratad), $"{Cli} and {Stratad} are missing; run scripts/publish-native.sh");

        var created = Admin("project", "create", "team", "--instances", "2", "--allowed-tiers", "fake,container");
        Assert.True(created.Code == 0, created.Err);
        var token = Admin("project", "token", "create", "team", "--role", "operator", "--description", "ci");
        Assert.True(token.Code == 0, token.Err);
        var secret = token.Out.Trim();
        Assert.StartsWith("strata_", secret, StringComparison.Ordinal);
        Assert.Contains("not shown again", token.Err, StringComparison.Ordinal);
        Assert.Equal(0, Admin("run", "-d", "--tier", "fake", "--name", "web", "--", "sleep").Code); // default project

        var env = new Dictionary<string, string> { ["STRATA_TOKEN"] = secret };
        var run = Tenant(env, "run", "-d", "--tier", "fake", "--name", "web", "--", "sleep");
        Assert.True(run.Code == 0, run.Err);
        Assert.Equal("web", Tenant(env, "ps", "-q").Out.Trim());
        var show = Tenant(env, "project", "show");
        Assert.True(show.Code == 0, show.Err);
        Assert.Contains("team", show.Out, StringComparison.Ordinal);
        Assert.Contains("1 of 2", show.Out, StringComparison.Ordinal);

        var restricted = Tenant(env, "run", "-d", "--tier", "fake", "--name", "host", "--network", "host", "--", "sleep");
        Assert.Equal(125, restricted.Code); // run could not create the workload
        Assert.Contains("host network", restricted.Err, StringComparison.Ordinal);
        var otherProject = Tenant(env, "--project", "default", "ps");
        Assert.Equal(1, otherProject.Code);
        Assert.Contains("belongs to project 'team'", otherProject.Err, StringComparison.Ordinal);

        // The same token from the config file (mode 0600), no environment variable.
        var config = _dir.Combine("config.json");
        File.WriteAllText(config, $$"""{"host": "127.0.0.1:{{_port}}", "token": "{{secret}}"}""");
        File.SetUnixFileMode(config, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var fromConfig = Run(new() { ["STRATA_CONFIG"] = config }, ["ps", "-q"]);
        Assert.True(fromConfig.Code == 0, fromConfig.Err);
        Assert.Equal("web", fromConfig.Out.Trim());

        var id = secret.Split('_')[1];
        Assert.Equal(0, Admin("project", "token", "revoke", "team", id).Code);
        var after = Tenant(env, "ps");
        Assert.Equal(1, after.Code);
        Assert.Contains("not valid", after.Err, StringComparison.Ordinal);
    }
}
