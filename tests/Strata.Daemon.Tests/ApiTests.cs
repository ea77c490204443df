using System.Net;
using System.Text;
using System.Text.Json;
using Strata.Client;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Testing;

namespace Strata.Daemon.Tests;

/// <summary>The REST API against a real in-process daemon, with the fake tier so no host process is needed.</summary>
public sealed class ApiTests : IAsyncLifetime
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

    private static InstanceSpec Fake(string? name, params string[] args) => new() { Name = name, Tier = "fake", Args = args };

    private async Task<(HttpStatusCode Status, ProblemDetails Problem)> PostRawAsync(string json)
    {
        using var http = _daemon.Http();
        using var response = await http.PostAsync("v1/instances", new StringContent(json, Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return (response.StatusCode, JsonSerializer.Deserialize(body, StrataJsonContext.Default.ProblemDetails)!);
    }

    [Fact]
    public async Task Create_UnknownTier_Is400NamingTheField()
    {
        var e = await Assert.ThrowsAsync<StrataApiException>(() => _client.CreateAsync(new InstanceSpec { Name = "a", Tier = "mainframe", Args = ["true"] }));
        Assert.Equal(400, e.Status);
        Assert.Equal("tier", e.Field);
        Assert.Contains("mainframe", e.Message, StringComparison.Ordinal);
        Assert.Empty((await _client.ListAsync()).Items);
    }

    [Fact]
    public async Task Create_NegativeMemory_Is400NamingTheField()
    {
        var e = await Assert.ThrowsAsync<StrataApiException>(() => _client.CreateAsync(Fake("a", "sleep") with { Resources = new ResourceSpec { MemoryBytes = -5 } }));
        Assert.Equal(400, e.Status);
        Assert.Equal("resources.memoryBytes", e.Field);
        Assert.Empty((await _client.ListAsync()).Items);
    }

    [Theory]
    [InlineData("web/1")]
    [InlineData("Web")]
    [InlineData("-web")]
    [InlineData("")]
    public async Task Create_BadName_Is400NamingTheField(string name)
    {
        var e = await Assert.ThrowsAsync<StrataApiException>(() => _client.CreateAsync(Fake(name, "sleep")));
        Assert.Equal(400, e.Status);
        Assert.Equal("name", e.Field);
        Assert.Empty((await _client.ListAsync()).Items);
    }

    [Fact]
    public async Task Create_UnknownJsonField_Is400NamingTheField()
    {
        var (status, problem) = await PostRawAsync("""{"spec":{"name":"a","tier":"fake","args":["sleep"],"bogus":1}}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("spec.bogus", problem.Field);

        (status, problem) = await PostRawAsync("""{"spec":{"name":"a","tier":"fake","args":["sleep"],"resources":{"memry":1}}}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("spec.resources.memry", problem.Field);
        Assert.Empty((await _client.ListAsync()).Items);
    }

    [Fact]
    public async Task Create_WrongJsonType_Is400NamingTheField()
    {
        var (status, problem) = await PostRawAsync("""{"spec":{"name":"a","tier":"fake","resources":{"memoryBytes":"lots"}}}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("spec.resources.memoryBytes", problem.Field);
    }

    [Fact]
    public async Task Create_DuplicateName_Is409AndTheFirstIsUntouched()
    {
        var first = await _client.CreateAsync(Fake("dup", "sleep"));
        var e = await Assert.ThrowsAsync<StrataApiException>(() => _client.CreateAsync(Fake("dup", "exit", "1")));
        Assert.Equal(409, e.Status);
        var still = await _client.GetAsync("dup");
        Assert.Equal(first.Id, still.Id);
        Assert.Equal("running", still.State);
    }

    [Fact]
    public async Task Create_TwentyConcurrentWithOneName_ExactlyOneSucceeds()
    {
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
        {
            try
            {
                await _client.CreateAsync(Fake("race", "sleep"));
                return 201;
            }
            catch (StrataApiException e)
            {
                return e.Status;
            }
        }));
        Assert.Equal(1, outcomes.Count(s => s == 201));
        Assert.Equal(19, outcomes.Count(s => s == 409));
        Assert.Single((await _client.ListAsync()).Items);
    }

    [Fact]
    public async Task Create_DriverFails_NothingIsLeftBehind()
    {
        var e = await Assert.ThrowsAsync<StrataApiException>(() => _client.CreateAsync(Fake("broken", "fail-create")));
        Assert.Equal(500, e.Status);
        Assert.Empty((await _client.ListAsync()).Items);
        Assert.Empty(Directory.GetDirectories(Path.Combine(_daemon.Root, "instances")));
        await _client.CreateAsync(Fake("broken", "sleep")); // the name is free
    }

    [Fact]
    public async Task Get_UnknownInstance_Is404()
    {
        var e = await Assert.ThrowsAsync<StrataApiException>(() => _client.GetAsync("nope"));
        Assert.Equal(404, e.Status);
        Assert.Contains("nope", e.Message, StringComparison.Ordinal);
        e = await Assert.ThrowsAsync<StrataApiException>(() => _client.StopAsync("nope"));
        Assert.Equal(404, e.Status);
    }

    [Fact]
    public async Task Start_WhileRunning_Is409NamingTheState()
    {
        await _client.CreateAsync(Fake("busy", "sleep"));
        var e = await Assert.ThrowsAsync<StrataApiException>(() => _client.StartAsync("busy"));
        Assert.Equal(409, e.Status);
        Assert.Contains("running", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Remove_Running_Is409UnlessForced()
    {
        await _client.CreateAsync(Fake("web", "sleep"));
        var e = await Assert.ThrowsAsync<StrataApiException>(() => _client.DeleteAsync("web"));
        Assert.Equal(409, e.Status);
        Assert.Contains("--force", e.Message, StringComparison.Ordinal);
        await _client.DeleteAsync("web", force: true);
        Assert.Empty((await _client.ListAsync()).Items);
    }

    [Fact]
    public async Task Lifecycle_StopThenStart_TracksStatesAndExitCodes()
    {
        await _client.CreateAsync(Fake("cycle", "sleep"));
        var stopped = await _client.StopAsync("cycle", 1);
        Assert.Equal("stopped", stopped.State);
        Assert.Equal(143, stopped.ExitCode);
        var started = await _client.StartAsync("cycle");
        Assert.Equal("running", started.State);
        Assert.Null(started.ExitCode);
    }

    [Fact]
    public async Task Wait_ReturnsTheExitCode()
    {
        await _client.CreateAsync(Fake("quick", "exit", "4"));
        var result = await _client.WaitAsync("quick");
        Assert.Equal(4, result.ExitCode);
        Assert.Equal("exited", result.State);
    }

    [Fact]
    public async Task RestartPolicy_OnFailureWithLimit_RestartsThatManyTimes()
    {
        await _client.CreateAsync(Fake("flaky", "exit", "1") with { Restart = "on-failure:2" });
        Assert.True(await TestEnvironment.EventuallyAsync(() =>
        {
            var i = _client.GetAsync("flaky").GetAwaiter().GetResult();
            return i.State == "exited" && i.RestartCount == 2;
        }, TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task AttachedRun_StreamsOutputThenExit_AndAutoRemoves()
    {
        var frames = new List<StreamFrame>();
        await foreach (var f in _client.RunAttachedAsync(Fake("attached", "echo", "hello", "world") with { AutoRemove = true }))
        {
            frames.Add(f);
        }
        Assert.Equal("attached", frames[0].Instance!.Name);
        Assert.Contains(frames, f => f.Log is { Stream: "stdout", Text: "hello world" });
        Assert.Equal(0, frames[^1].Exit!.ExitCode);
        // Forgotten before the exit frame was sent: the name is free at once.
        Assert.Equal(ErrorKind.NotFound, (await Assert.ThrowsAsync<StrataApiException>(() => _client.GetAsync("attached"))).Kind);
        Assert.True(await TestEnvironment.EventuallyAsync(() => _client.ListAsync().GetAwaiter().GetResult().Items.Count == 0, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task RunOutput_NameThenOutputThenExit_AsTheFullStreamSaysIt()
    {
        var frames = new List<RunFrame>();
        await foreach (var f in _client.RunOutputAsync(Fake("lean", "echo", "hello", "world") with { AutoRemove = true }))
        {
            frames.Add(f);
        }
        Assert.Equal("lean", frames[0].InstanceName);
        Assert.Contains(frames, f => f.Log is { Stream: "stdout", Text: "hello world" });
        Assert.Equal(new WaitResult("lean", "exited", 0, null), frames[^1].Exit);

        var failing = new List<RunFrame>();
        await foreach (var f in _client.RunOutputAsync(Fake("lean-exit", "exit", "7") with { AutoRemove = true }))
        {
            failing.Add(f);
        }
        Assert.Equal(7, failing[^1].Exit!.ExitCode);
    }

    [Fact]
    public void RunFrame_Parse_ReadsEachKindAndSkipsTheRestOfTheInstance()
    {
        var instance = RunFrame.Parse("""{"instance":{"id":"x","spec":{"name":"n","args":["a"]},"name":"web","placement":{"reasons":[]}}}"""u8);
        Assert.Equal(new RunFrame("web", null, null), instance);
        var log = RunFrame.Parse("""{"log":{"time":"2026-01-02T03:04:05Z","stream":"stderr","text":"boom","partial":true}}"""u8);
        Assert.Equal(new LogRecord(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero), "stderr", "boom", true), log!.Log);
        var exit = RunFrame.Parse("""{"exit":{"name":"web","state":"failed","exitCode":127,"reason":"not found"}}"""u8);
        Assert.Equal(new WaitResult("web", "failed", 127, "not found"), exit!.Exit);
        Assert.Null(RunFrame.Parse("""{"future":{"a":[1,2]}}"""u8));
        Assert.Throws<System.Text.Json.JsonException>(() => RunFrame.Parse("""{"instance":{"id":"x"}}"""u8));
    }

    [Fact]
    public void RequestJson_FastPathContext_WritesTheSameBytesAsTheFullContext()
    {
        // Every member set, so any difference in options between the two contexts shows.
        var spec = new InstanceSpec
        {
            Name = "all", Tier = "container", Image = "busybox", Command = ["/bin/sh"], Args = ["-c", "echo \"x\" <&> é"],
            Env = new Dictionary<string, string> { ["A"] = "1", ["B"] = "two words" },
            WorkingDir = "/w", Restart = "on-failure", AutoRemove = true, Disposable = true, TimeoutSeconds = 2.5, Network = "n1",
            Labels = new Dictionary<string, string> { ["team"] = "a" },
            Ports = [new PortSpec { HostPort = 8080, ContainerPort = 80, Protocol = "tcp", HostIp = "127.0.0.1" }],
            Mounts = [new MountSpec { Source = "/src", Target = "/dst", ReadOnly = true }],
            Resources = new ResourceSpec { Cpus = 1.5, MemoryBytes = 1 << 24, Pids = 64, Cpuset = "0", DiskBytes = 1 << 30 },
            Security = new SecuritySpec { User = "1:2", ReadOnlyRootfs = true, CapAdd = ["CAP_NET_ADMIN"], CapDrop = ["CAP_CHOWN"], Devices = ["/dev/null"] },
            Requirements = new WorkloadRequirements { Os = "linux", Arch = "amd64", FullOs = false, OwnKernel = true, KernelModules = ["kvm"], SpecialDrivers = false, Isolation = "strong", Trust = "untrusted" },
        };
        var request = new CreateInstanceRequest { Spec = spec, Start = true };
        var full = System.Text.Json.JsonSerializer.Serialize(request, StrataJsonContext.Default.CreateInstanceRequest);
        var fast = System.Text.Json.JsonSerializer.Serialize(request, StrataRequestJsonContext.Default.CreateInstanceRequest);
        Assert.Equal(full, fast);
        Assert.Contains("\"hostPort\":8080", fast, StringComparison.Ordinal);

        var exec = new ExecRequest { Command = ["ls", "-l"], Env = new Dictionary<string, string> { ["X"] = "y" }, Tty = true, User = "1000", WorkingDir = "/tmp" };
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(exec, StrataJsonContext.Default.ExecRequest),
            System.Text.Json.JsonSerializer.Serialize(exec, StrataRequestJsonContext.Default.ExecRequest));
    }

    [Fact]
    public async Task Events_ReportLifecycleInOrder()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var seen = new List<string>();
        var reader = Task.Run(async () =>
        {
            await foreach (var e in _client.EventsAsync(cts.Token))
            {
                if (e.Instance == "evt")
                {
                    seen.Add(e.Type);
                    if (e.Type == "deleted")
                    {
                        return;
                    }
                }
            }
        });
        // The subscription is live once the daemon has written the stream's preamble; create after a short poll.
        await TestEnvironment.EventuallyAsync(() => false, TimeSpan.FromMilliseconds(300));
        await _client.CreateAsync(Fake("evt", "exit", "0"));
        await _client.WaitAsync("evt");
        await _client.DeleteAsync("evt");
        await reader.WaitAsync(cts.Token);
        Assert.Equal(["created", "started", "exited", "deleted"], seen);
    }

    [Fact]
    public async Task Metrics_CountInstancesAndRequests()
    {
        await _client.CreateAsync(Fake("m1", "sleep"));
        var text = await _client.GetTextAsync("metrics");
        Assert.Contains("strata_instances{tier=\"process\",state=\"running\"} 0", text, StringComparison.Ordinal);
        Assert.Contains("strata_http_request_duration_seconds_bucket{le=\"+Inf\"}", text, StringComparison.Ordinal);
        Assert.Contains("strata_http_request_duration_seconds_count", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenApi_DescribesTheInstanceRoutes()
    {
        var doc = await _client.GetTextAsync("openapi/v1.json");
        using var json = JsonDocument.Parse(doc);
        var paths = json.RootElement.GetProperty("paths");
        Assert.True(paths.TryGetProperty("/v1/instances", out _));
        Assert.True(paths.TryGetProperty("/v1/instances/{name}/stop", out _));
    }

    [Fact]
    public async Task Info_ListsTiersWithReasons()
    {
        var info = await _client.InfoAsync();
        Assert.Contains(info.Tiers, t => t.Tier == "process");
        Assert.All(info.Tiers, t => Assert.False(string.IsNullOrEmpty(t.Reason)));
        Assert.Equal(Environment.ProcessorCount, info.Host.Cpus);
    }

    [Fact]
    public async Task Reconcile_AfterRestart_FakeInstancesAreReportedLostNotRunning()
    {
        await _client.CreateAsync(Fake("ghost", "sleep"));
        await _daemon.RestartAsync();
        using var client = _daemon.Client();
        var i = await client.GetAsync("ghost");
        Assert.Equal("failed", i.State);
        Assert.Contains("restarts", i.Reason, StringComparison.Ordinal);
    }
}

/// <summary>The TCP listener: every request needs the bearer token.</summary>
public sealed class TcpAuthTests
{
    [Fact]
    public async Task Tcp_WithoutToken_Is401_WithToken_Works()
    {
        var port = TestEnvironment.FreeLoopbackPort();
        var tokenFile = Path.Combine("/tmp", $"strata-token-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(tokenFile, "0123456789abcdef0123456789abcdef\n");
        try
        {
            await using var daemon = await InProcessDaemon.StartAsync(o => o with { Listen = new IPEndPoint(IPAddress.Loopback, port), TokenFile = tokenFile });
            using var anonymous = new StrataClient(new ClientOptions { Host = new Uri($"http://127.0.0.1:{port}") });
            var e = await Assert.ThrowsAsync<StrataApiException>(() => anonymous.ListAsync());
            Assert.Equal(401, e.Status);
            using var wrong = new StrataClient(new ClientOptions { Host = new Uri($"http://127.0.0.1:{port}"), Token = "0123456789abcdef0123456789abcdeX" });
            Assert.Equal(401, (await Assert.ThrowsAsync<StrataApiException>(() => wrong.ListAsync())).Status);
            using var good = new StrataClient(new ClientOptions { Host = new Uri($"http://127.0.0.1:{port}"), Token = "0123456789abcdef0123456789abcdef" });
            Assert.Empty((await good.ListAsync()).Items);
        }
        finally
        {
            File.Delete(tokenFile);
        }
    }

    [Fact]
    public async Task UnixSocket_HasMode0660()
    {
        await using var daemon = await InProcessDaemon.StartAsync();
        var mode = File.GetUnixFileMode(daemon.Socket);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite, mode);
    }

    [Fact]
    public async Task SecondDaemon_OnTheSameRoot_IsRefused()
    {
        await using var daemon = await InProcessDaemon.StartAsync();
        var e = await Assert.ThrowsAsync<StrataException>(() => DaemonHost.StartAsync(daemon.Options with { Socket = daemon.Socket + "2" }));
        Assert.Contains("already using", e.Message, StringComparison.Ordinal);
    }
}
