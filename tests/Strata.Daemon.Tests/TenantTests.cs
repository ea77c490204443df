using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Strata.Client;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Testing;

namespace Strata.Daemon.Tests;

/// <summary>
/// Projects as tenants, through a real daemon with a TCP listener: tokens act only in their project, roles limit
/// what they do, restrictions and quotas hold at admission, revocation is immediate, and tokens never reach logs.
/// </summary>
public sealed class TenantTests : IAsyncLifetime
{
    private readonly LogCapture _logs = new();
    private InProcessDaemon _daemon = null!;
    private StrataClient _admin = null!;
    private int _port;

    /// <summary>The fake tier stands in for any tier that shares the host; tenants may use it.</summary>
    private static readonly ProjectRestrictions FakeOnly = new() { AllowedTiers = ["fake", "container", "sandbox", "vm", "wasm"] };

    public async Task InitializeAsync()
    {
        _port = FreePort();
        _daemon = await InProcessDaemon.StartAsync(
            o => o with { Listen = new IPEndPoint(IPAddress.Loopback, _port) },
            logging =>
            {
                logging.AddProvider(_logs);
                logging.AddFilter<LogCapture>(null, LogLevel.Trace);
            });
        _admin = _daemon.Client();
    }

    public async Task DisposeAsync()
    {
        _admin.Dispose();
        await _daemon.DisposeAsync();
    }

    private StrataClient Tcp(string? token, string? project = null) =>
        new(new ClientOptions { Host = new Uri($"http://127.0.0.1:{_port}"), Token = token, Project = project });

    private async Task<string> TokenAsync(string project, string role) => (await _admin.CreateTokenAsync(project, role)).Token!;

    private static InstanceSpec Sleeper(string name) => new() { Name = name, Tier = "fake", Args = ["sleep"] };

    [Fact]
    public async Task OtherProjectsInstances_AreNotFound_ForEveryVerb_AndStayUntouched()
    {
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "a", Restrictions = FakeOnly });
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "b", Restrictions = FakeOnly });
        using var a = Tcp(await TokenAsync("a", ProjectRoles.Operator));
        using var b = Tcp(await TokenAsync("b", ProjectRoles.Operator));
        var web = await b.CreateAsync(Sleeper("web"));
        Assert.Equal("running", web.State);
        Assert.Equal("b", web.Project);

        Assert.Empty((await a.ListAsync()).Items);
        var missing = await Assert.ThrowsAsync<StrataApiException>(() => a.GetAsync("nosuch"));
        var calls = new Func<Task>[]
        {
            () => a.GetAsync("web"),
            () => a.StopAsync("web", 0),
            () => a.KillAsync("web"),
            () => a.StartAsync("web"),
            () => a.WaitAsync("web"),
            () => a.DeleteAsync("web", force: true),
            () => a.CreateSnapshotAsync("web", "s1"),
            () => a.ListSnapshotsAsync("web"),
            () => a.StatsAsync("web"),
            () => a.ResizeAsync("web", 64 * 1024 * 1024, null),
            async () => { await foreach (var _ in a.LogsAsync("web")) { } },
            async () => { await foreach (var _ in a.ExecAsync("web", new ExecRequest { Command = ["true"] })) { } },
        };
        foreach (var call in calls)
        {
            var e = await Assert.ThrowsAsync<StrataApiException>(call);
            Assert.Equal(404, e.Status);
            // Exactly the answer for a name that does not exist anywhere: nothing to enumerate.
            Assert.Equal(missing.Message.Replace("nosuch", "web", StringComparison.Ordinal), e.Message);
        }
        // Names are unique per project: A may have its own 'web'.
        Assert.Equal("a", (await a.CreateAsync(Sleeper("web"))).Project);

        var still = await b.GetAsync("web");
        Assert.Equal("running", still.State);
        Assert.Equal(web.Pid, still.Pid);
        Assert.Empty((await b.ListSnapshotsAsync("web")).Items);
        Assert.Single((await b.ListAsync()).Items);

        // A token acts only in its project: naming another is refused, other projects are invisible.
        using var aAdminNamingB = Tcp(await TokenAsync("a", ProjectRoles.Admin), "b");
        Assert.Equal(403, (await Assert.ThrowsAsync<StrataApiException>(() => aAdminNamingB.ListAsync())).Status);
        Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => a.GetProjectAsync("b"))).Status);
        Assert.Equal(["a"], (await a.ListProjectsAsync()).Items.Select(p => p.Name));
    }

    [Fact]
    public async Task RestrictedProject_HostAccessAndDisallowedTiers_AreRefusedWithAReason()
    {
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "r", Restrictions = new ProjectRestrictions { AllowedTiers = ["fake", "sandbox", "vm"] } });
        using var r = Tcp(await TokenAsync("r", ProjectRoles.Operator));

        var cases = new (InstanceSpec Spec, string Field, string Words)[]
        {
            (Sleeper("m") with { Mounts = [new MountSpec { Source = "/etc", Target = "/data" }] }, "mounts", "host paths"),
            (Sleeper("i") with { Image = "dir:/" }, "image", "host paths as images"),
            (Sleeper("d") with { Security = new SecuritySpec { Devices = ["/dev/fuse"] } }, "security.devices", "host devices"),
            (Sleeper("n") with { Network = "host" }, "network", "host network"),
            (Sleeper("c") with { Security = new SecuritySpec { CapAdd = ["SYS_ADMIN"] } }, "security.capAdd", "capabilities"),
            (new InstanceSpec { Name = "p", Tier = "process", Args = ["true"] }, "tier", "process"),
            (new InstanceSpec { Name = "w", Tier = "wasm", Image = "/nonexistent/x.wasm" }, "tier", "allowed tiers are fake, sandbox, vm"),
        };
        foreach (var (spec, field, words) in cases)
        {
            var e = await Assert.ThrowsAsync<StrataApiException>(() => r.CreateAsync(spec));
            Assert.Equal(403, e.Status);
            Assert.Equal(field, e.Field);
            Assert.Contains(words, e.Message, StringComparison.Ordinal);
            Assert.Contains("project 'r'", e.Message, StringComparison.Ordinal);
        }
        Assert.Empty((await r.ListAsync()).Items);

        // The same requests are fine in the unrestricted default project (the mount, network, device checks pass).
        Assert.Equal("running", (await _admin.CreateAsync(Sleeper("n") with { Network = "host" })).State);
    }

    [Fact]
    public async Task UntrustedCode_BelowTheProjectsMinimumTier_IsRefused_AndTheAdvisorHonoursTheMinimum()
    {
        await _admin.CreateProjectAsync(new CreateProjectRequest
        {
            Name = "u",
            Restrictions = new ProjectRestrictions { MinimumTierForUntrusted = "vm" },
        });
        using var u = Tcp(await TokenAsync("u", ProjectRoles.Operator));
        var untrusted = new WorkloadRequirements { Trust = "untrusted" };

        var e = await Assert.ThrowsAsync<StrataApiException>(() => u.CreateAsync(new InstanceSpec { Name = "x", Tier = "sandbox", Image = "busybox", Requirements = untrusted }));
        Assert.Equal(403, e.Status);
        Assert.Contains("untrusted", e.Message, StringComparison.Ordinal);
        Assert.Contains("vm or stronger", e.Message, StringComparison.Ordinal);

        var advice = (await u.AdviseAsync(new AdviseRequest { Spec = new InstanceSpec { Image = "busybox", Requirements = untrusted } })).Items.Single();
        var inDefault = (await _admin.AdviseAsync(new AdviseRequest { Spec = new InstanceSpec { Image = "busybox", Requirements = untrusted } })).Items.Single();
        // In project u only vm qualifies (or, where vm is unavailable here, the advisor says so); never sandbox.
        Assert.True(advice.Tier == "vm" || advice.Problem?.Detail?.Contains("vm", StringComparison.Ordinal) == true, advice.Problem?.Detail ?? advice.Tier);
        Assert.NotEqual("sandbox", advice.Tier);
        Assert.NotEqual(advice.Tier, inDefault.Tier ?? "none");
    }

    [Fact]
    public async Task Quota_TwentyConcurrentCreates_WithRoomForFive_CreateExactlyFive()
    {
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "q", Restrictions = FakeOnly, Quota = new ProjectQuota { Instances = 5 } });
        using var q = Tcp(await TokenAsync("q", ProjectRoles.Operator));

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(async i =>
        {
            try
            {
                await q.CreateAsync(Sleeper($"i{i}"));
                return (Exception?)null;
            }
            catch (StrataApiException e)
            {
                return e;
            }
        }));

        Assert.Equal(5, results.Count(r => r is null));
        var refusals = results.OfType<StrataApiException>().ToList();
        Assert.Equal(15, refusals.Count);
        Assert.All(refusals, e =>
        {
            Assert.Equal(403, e.Status);
            Assert.Equal("quota.instances", e.Field);
            Assert.Contains("5 of 5 instances in use", e.Message, StringComparison.Ordinal);
        });
        Assert.Equal(5, (await q.ListAsync()).Items.Count);
        var shown = await _admin.GetProjectAsync("q");
        Assert.Equal(5, shown.Usage!.Instances);
        Assert.Equal(5, shown.Quota.Instances);

        // Removing one makes room for exactly one more.
        await q.DeleteAsync((await q.ListAsync()).Items[0].Name, force: true);
        await q.CreateAsync(Sleeper("again"));
        Assert.Equal(403, (await Assert.ThrowsAsync<StrataApiException>(() => q.CreateAsync(Sleeper("over")))).Status);
    }

    [Fact]
    public async Task MemoryQuota_CountsDeclaredMemory_AndRefusesUndeclared()
    {
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "m", Restrictions = FakeOnly, Quota = new ProjectQuota { MemoryBytes = 100L << 20, Cpus = 2 } });
        using var m = Tcp(await TokenAsync("m", ProjectRoles.Operator));
        var sized = new ResourceSpec { MemoryBytes = 64L << 20, Cpus = 1 };
        await m.CreateAsync(Sleeper("one") with { Resources = sized });
        var over = await Assert.ThrowsAsync<StrataApiException>(() => m.CreateAsync(Sleeper("two") with { Resources = sized }));
        Assert.Equal(403, over.Status);
        Assert.Equal("quota.memoryBytes", over.Field);
        Assert.Contains("64M in use + 64M asked > 100M", over.Message, StringComparison.Ordinal);
        var undeclared = await Assert.ThrowsAsync<StrataApiException>(() => m.CreateAsync(Sleeper("three")));
        Assert.Equal(403, undeclared.Status);
        Assert.Equal("resources.cpus", undeclared.Field);
        Assert.Single((await m.ListAsync()).Items);
    }

    [Fact]
    public async Task Resize_GrowingPastTheQuota_IsRefusedNamingIt_ConcurrentGrowthNeverOvershoots_ShrinkingAlwaysWorks()
    {
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "rq", Restrictions = FakeOnly, Quota = new ProjectQuota { MemoryBytes = 256L << 20, Cpus = 4 } });
        using var rq = Tcp(await TokenAsync("rq", ProjectRoles.Operator));
        var sized = new ResourceSpec { MemoryBytes = 64L << 20, Cpus = 1 };
        await rq.CreateAsync(Sleeper("g1") with { Resources = sized });
        await rq.CreateAsync(Sleeper("g2") with { Resources = sized });

        var over = await Assert.ThrowsAsync<StrataApiException>(() => rq.ResizeAsync("g1", 256L << 20, null));
        Assert.Equal(403, over.Status);
        Assert.Equal("quota.memoryBytes", over.Field);
        Assert.Contains("64M in use + 256M asked > 256M", over.Message, StringComparison.Ordinal);
        Assert.Equal(64L << 20, (await rq.GetAsync("g1")).Spec.Resources!.MemoryBytes); // refused: nothing changed

        // Two growths at once that each fit alone (160 + 64) but not together (160 + 160 > 256): exactly one is admitted.
        var both = await Task.WhenAll(
            Attempt(() => rq.ResizeAsync("g1", 160L << 20, null)),
            Attempt(() => rq.ResizeAsync("g2", 160L << 20, null)));
        Assert.Equal(1, both.Count(ok => ok));
        var total = 0L;
        foreach (var item in (await rq.ListAsync()).Items)
        {
            total += (await rq.GetAsync(item.Name)).Spec.Resources!.MemoryBytes!.Value;
        }
        Assert.Equal(224L << 20, total);

        // A create now sees the grown instance counted: 224M + 64M > 256M.
        Assert.Equal(403, (await Assert.ThrowsAsync<StrataApiException>(() => rq.CreateAsync(Sleeper("g3") with { Resources = sized }))).Status);

        // Lowering the quota below what is used never blocks giving memory back.
        await _admin.SetQuotaAsync("rq", new ProjectQuota { MemoryBytes = 64L << 20, Cpus = 4 });
        var grown = both[0] ? "g1" : "g2";
        await rq.ResizeAsync(grown, 32L << 20, null);
        Assert.Equal(32L << 20, (await rq.GetAsync(grown)).Spec.Resources!.MemoryBytes);

        static async Task<bool> Attempt(Func<Task> resize)
        {
            try
            {
                await resize();
                return true;
            }
            catch (StrataApiException e) when (e.Status == 403)
            {
                return false;
            }
        }
    }

    [Fact]
    public async Task RevokedToken_IsRefused_OnTheVeryNextRequest()
    {
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "v", Restrictions = FakeOnly });
        var created = await _admin.CreateTokenAsync("v", ProjectRoles.Operator, "ci");
        using var client = Tcp(created.Token);
        Assert.Empty((await client.ListAsync()).Items);

        await _admin.RevokeTokenAsync("v", created.Id);

        var e = await Assert.ThrowsAsync<StrataApiException>(() => client.ListAsync());
        Assert.Equal(401, e.Status);
        Assert.DoesNotContain(created.Id, (await _admin.ListTokensAsync("v")).Items.Select(t => t.Id));
    }

    [Fact]
    public async Task Roles_ViewerReadsOnly_OperatorCannotManageTokens_TokensCannotTouchProjectsOrImages()
    {
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "r", Restrictions = FakeOnly });
        await _admin.CreateAsync(Sleeper("seen")); // default project: invisible to r
        using var op = Tcp(await TokenAsync("r", ProjectRoles.Operator));
        using var viewer = Tcp(await TokenAsync("r", ProjectRoles.Viewer));
        using var projectAdmin = Tcp(await TokenAsync("r", ProjectRoles.Admin));
        await op.CreateAsync(Sleeper("web"));

        var refused = await Assert.ThrowsAsync<StrataApiException>(() => viewer.CreateAsync(Sleeper("nope")));
        Assert.Equal(403, refused.Status);
        Assert.Contains("viewer", refused.Message, StringComparison.Ordinal);
        Assert.Contains("create instances", refused.Message, StringComparison.Ordinal);
        Assert.Equal(403, (await Assert.ThrowsAsync<StrataApiException>(() => viewer.StopAsync("web", 0))).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<StrataApiException>(() => viewer.DeleteAsync("web"))).Status);
        Assert.Equal("web", Assert.Single((await viewer.ListAsync()).Items).Name);
        Assert.Equal("running", (await viewer.GetAsync("web")).State);

        Assert.Equal(403, (await Assert.ThrowsAsync<StrataApiException>(() => op.CreateTokenAsync("r", ProjectRoles.Admin))).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<StrataApiException>(() => op.ListTokensAsync("r"))).Status);
        var minted = await projectAdmin.CreateTokenAsync("r", ProjectRoles.Viewer);
        Assert.StartsWith("strata_", minted.Token, StringComparison.Ordinal);
        Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => projectAdmin.CreateTokenAsync("default", ProjectRoles.Admin))).Status);

        // Quotas, restrictions and projects belong to host administrators; so does the shared image store.
        Assert.Equal(403, (await Assert.ThrowsAsync<StrataApiException>(() => projectAdmin.SetQuotaAsync("r", new ProjectQuota()))).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<StrataApiException>(() => projectAdmin.SetRestrictionsAsync("r", ProjectRestrictions.Unrestricted))).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<StrataApiException>(() => projectAdmin.CreateProjectAsync(new CreateProjectRequest { Name = "x" }))).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<StrataApiException>(() => projectAdmin.RemoveImageAsync("busybox"))).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<StrataApiException>(() => projectAdmin.StopDaemonAsync(all: true))).Status);
        // /metrics answers a project token with its own project's series only: nothing host-wide (docs/rightsizing.md).
        var metrics = await projectAdmin.GetTextAsync("metrics");
        Assert.DoesNotContain("strata_http_request_duration_seconds", metrics, StringComparison.Ordinal);
        Assert.Contains("strata_instances{tier=\"process\",state=\"running\"} 0", metrics, StringComparison.Ordinal);
        Assert.Equal(1, (await viewer.InfoAsync()).Instances);
    }

    [Fact]
    public async Task Tokens_NeverAppearInLogs_NorInTheStore()
    {
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "l", Restrictions = FakeOnly });
        var created = await _admin.CreateTokenAsync("l", ProjectRoles.Operator);
        var secret = created.Token!;
        using (var client = Tcp(secret))
        {
            await client.CreateAsync(Sleeper("web"));
            await Assert.ThrowsAsync<StrataApiException>(() => client.CreateAsync(Sleeper("web"))); // a conflict, logged or not
            await Assert.ThrowsAsync<StrataApiException>(() => Tcp(secret + "x").ListAsync());
            await _admin.RevokeTokenAsync("l", created.Id);
            await Assert.ThrowsAsync<StrataApiException>(() => client.ListAsync());
        }
        Assert.NotEmpty(_logs.Lines); // the capture works: the daemon did log
        var secretPart = secret[(secret.LastIndexOf('_') + 1)..];
        Assert.DoesNotContain(_logs.Lines, line => line.Contains(secretPart, StringComparison.Ordinal));

        foreach (var file in Directory.EnumerateFiles(_daemon.Root, "*", SearchOption.AllDirectories))
        {
            if (file.EndsWith("stratad.lock", StringComparison.Ordinal))
            {
                continue; // held exclusively by the daemon, and always empty
            }
            var bytes = await File.ReadAllBytesAsync(file);
            Assert.False(bytes.AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(secretPart)) >= 0, $"{file} holds the token's secret");
        }
    }

    [Fact]
    public async Task Projects_ShowUsageAndLimits_AndOnlyEmptyProjectsAreRemoved()
    {
        var made = await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "p", Quota = new ProjectQuota { Instances = 3, Pids = 100 } });
        Assert.False(made.Restrictions.AllowHostMounts); // restrictive by default
        Assert.False(made.Restrictions.AllowProcessTier);
        await _admin.SetRestrictionsAsync("p", FakeOnly);
        using var p = _daemon.Client("p");
        await p.CreateAsync(Sleeper("a") with { Resources = new ResourceSpec { Pids = 40 } });
        var shown = await _admin.GetProjectAsync("p");
        Assert.Equal(1, shown.Usage!.Instances);
        Assert.Equal(40, shown.Usage.Pids);
        Assert.Equal(100, shown.Quota.Pids);

        Assert.Equal(409, (await Assert.ThrowsAsync<StrataApiException>(() => _admin.DeleteProjectAsync("p"))).Status);
        await p.DeleteAsync("a", force: true);
        await _admin.DeleteProjectAsync("p");
        Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => p.ListAsync())).Status);
        Assert.Equal(409, (await Assert.ThrowsAsync<StrataApiException>(() => _admin.DeleteProjectAsync("default"))).Status);
    }

    [Fact]
    public async Task Projects_AndTokens_SurviveARestart()
    {
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "k", Restrictions = FakeOnly, Quota = new ProjectQuota { Instances = 1 } });
        var token = await TokenAsync("k", ProjectRoles.Operator);
        await Tcp(token).CreateAsync(Sleeper("one"));
        await _daemon.RestartAsync();
        using var again = Tcp(token);
        Assert.Equal("one", Assert.Single((await again.ListAsync()).Items).Name);
        Assert.Equal(403, (await Assert.ThrowsAsync<StrataApiException>(() => again.CreateAsync(Sleeper("two")))).Status);
    }

    private static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}

/// <summary>The TCP listener with TLS and a project token, end to end.</summary>
public sealed class TlsTenantTests
{
    [Fact]
    public async Task TlsListener_ProjectToken_Works_OverHttpsOnly()
    {
        using var dir = new TempDirectory("strata-tls");
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var certPath = dir.Combine("cert.pem");
        var keyPath = dir.Combine("key.pem");
        await File.WriteAllTextAsync(certPath, cert.ExportCertificatePem());
        await File.WriteAllTextAsync(keyPath, key.ExportPkcs8PrivateKeyPem());

        var port = FreePort();
        await using var daemon = await InProcessDaemon.StartAsync(o => o with
        {
            Listen = new IPEndPoint(IPAddress.Loopback, port),
            TlsCertificate = certPath,
            TlsKey = keyPath,
        });
        using var admin = daemon.Client();
        await admin.CreateProjectAsync(new CreateProjectRequest { Name = "t", Restrictions = new ProjectRestrictions { AllowedTiers = ["fake"] } });
        var token = (await admin.CreateTokenAsync("t", ProjectRoles.Operator)).Token!;

        using var tls = new StrataClient(new ClientOptions { Host = new Uri($"https://127.0.0.1:{port}"), Token = token, TlsCaFile = certPath });
        var created = await tls.CreateAsync(new InstanceSpec { Name = "web", Tier = "fake", Args = ["sleep"] });
        Assert.Equal("t", created.Project);
        Assert.Single((await tls.ListAsync()).Items);

        // Plain HTTP to the TLS port gets no answer it could use, and a client that does not trust the certificate refuses it.
        using var plain = new StrataClient(new ClientOptions { Host = new Uri($"http://127.0.0.1:{port}"), Token = token });
        await Assert.ThrowsAnyAsync<Exception>(() => plain.ListAsync());
        using var untrusting = new StrataClient(new ClientOptions { Host = new Uri($"https://127.0.0.1:{port}"), Token = token });
        await Assert.ThrowsAnyAsync<Exception>(() => untrusting.ListAsync());
    }

    private static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}

/// <summary>Every log line the daemon writes, at every level, with exceptions.</summary>
public sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {exception} {state}");
    }
}
