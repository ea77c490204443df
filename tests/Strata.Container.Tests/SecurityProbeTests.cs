using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Strata.Client;
using Strata.Contracts;
using Strata.Node.Networking;
using Strata.Testing;

namespace Strata.Container.Tests;

/// <summary>
/// The whole attacker's probe of a host, end to end against one published stratad (its unix socket and a TCP
/// listener with project tokens): an unprivileged local user, a tenant operator token against another project,
/// an image removed and pruned under a running container, a decompression bomb, and <c>kill -9</c> of the daemon
/// during concurrent creates. Each part is the attack as it was made; none may find anything.
/// </summary>
[Collection(ContainerCollection.Name)]
public sealed class SecurityProbeTests(ContainerFixture fx)
{
    private const int Concurrent = 10;
    private const string Sleep = "trap 'exit 0' TERM; while true; do sleep 0.1; done";
    private static readonly ProjectRestrictions ContainersOnly = new() { AllowedTiers = ["container"] };

    [SkippableFact]
    public async Task WholeProbe_AgainstOnePublishedDaemon_FindsNothing()
    {
        fx.RequireEngine();
        var cli = TestEnvironment.RequireArtifact("strata");
        using var user = UnprivilegedUser.Create();
        var parent = Path.Combine(fx.Root, "probe");
        Directory.CreateDirectory(parent);
        using (var networks = new NetworkRegistry(new NetworkOptions { StateDirectory = Path.Combine(parent, "networks") }))
        {
            TestEnvironment.Require(networks.MissingReason() is null, $"networks: {networks.MissingReason()}");
        }
        var probe = new Probe(parent, NetworkCensus.FreePort());
        string[] arguments = ["--root", probe.Root, "--socket", probe.Socket, "--listen", $"127.0.0.1:{probe.Port}", "--supervisor", fx.Supervisor!,
            "--unpack-max-size", "8M", "--unpack-min-free", "1M"];
        // Traversable parents (as /var/lib is): only the data root's own modes may protect what is inside.
        var fixtureMode = File.GetUnixFileMode(fx.Root);
        foreach (var dir in new[] { fx.Root, parent })
        {
            File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        }
        var daemon = await PublishedDaemon.StartAsync(probe.Socket, arguments);
        try
        {
            var original = await probe.Admin().BuildBaseImageAsync("busybox:latest");
            foreach (var project in new[] { "a", "b" })
            {
                await probe.Admin().CreateProjectAsync(new CreateProjectRequest { Name = project, Restrictions = ContainersOnly });
            }
            probe.TokenA = (await probe.Admin().CreateTokenAsync("a", ProjectRoles.Operator)).Token!;
            probe.TokenB = (await probe.Admin().CreateTokenAsync("b", ProjectRoles.Operator)).Token!;

            // Project B: a network, and an instance on it that publishes a host port.
            using var b = probe.Tenant(probe.TokenB);
            var bnet = await b.CreateNetworkAsync(new CreateNetworkRequest { Name = "bnet", Subnet = "10.93.17.0/24" });
            var hostPort = NetworkCensus.FreePort();
            var bweb = await b.CreateAsync(Sleeper("bsecretweb", "bnet", $"127.0.0.1:{hostPort}:80"));
            Assert.Equal("running", bweb.State);

            var suid = await SetuidProgramAsync(probe);
            AnotherUserReachesNothing(user, probe.Root, suid);

            await TenantTokenAsync(probe, original, bnet, hostPort);
            await InputBoundsAsync(probe);
            await TokenOverTheSocketAsync(probe, cli);
            await ImageRemovedUnderARunningContainerAsync(probe);
            await DecompressionBombAsync(probe, parent);

            // kill -9 during concurrent creates; after the restart every record matches reality, in every project.
            await PublishedDaemon.KillDuringCreatesAsync(daemon, probe.Admin(), "crash-", Enumerable.Range(0, Concurrent)
                .Select(i => new InstanceSpec { Name = $"crash-{i}", Tier = "container", Image = "busybox", Args = ["sleep", "600"] }));
            daemon = await PublishedDaemon.StartAsync(probe.Socket, arguments);
            probe.Reconnect();
            await InstanceReality.AssertRecordsMatchAsync([probe.Admin(), probe.Admin("a"), probe.Admin("b")], probe.Root);
            var adopted = await probe.Admin("b").GetAsync("bsecretweb");
            Assert.Equal(("running", bweb.Pid, original.Id), (adopted.State, adopted.Pid, adopted.Details!["image"]));
            Assert.Equal((0, "probe"), await InstanceOutput.ExecAsync(probe.Admin(), "keeper", "cat /marker"));

            // The restarted daemon kept the data root closed.
            AnotherUserReachesNothing(user, probe.Root, suid);
        }
        finally
        {
            try
            {
                await probe.RemoveEverythingAsync();
            }
            finally
            {
                probe.Dispose();
                await PublishedDaemon.KillAsync(daemon);
                File.SetUnixFileMode(fx.Root, fixtureMode);
            }
        }
    }

    /// <summary>Root in a container writes a setuid-root copy of its shell; returns its path as the host sees it.</summary>
    private static async Task<string> SetuidProgramAsync(Probe probe)
    {
        var container = await probe.Admin().CreateAsync(new InstanceSpec
        {
            Name = "suid", Tier = "container", Image = "busybox", Env = new Dictionary<string, string> { ["PASSWORD"] = "hunter2" },
            Args = ["sh", "-c", "mkdir /suid && cp /bin/busybox /suid/sh && chmod 4755 /suid/sh && echo ready; exec sleep 600"],
        });
        var suid = Path.Combine(probe.Root, "instances", container.Id, "rootfs", "suid", "sh");
        Assert.True(await TestEnvironment.EventuallyAsync(() => File.Exists(suid) && (File.GetUnixFileMode(suid) & UnixFileMode.SetUser) != 0,
            TimeSpan.FromSeconds(30)), "the container did not write its setuid program");
        return suid;
    }

    /// <summary>Nothing under the data root can be listed, read, written or executed by another local user, the setuid program least of all.</summary>
    private static void AnotherUserReachesNothing(UnprivilegedUser user, string root, string suid)
    {
        var census = UnprivilegedUser.Census(root);
        Assert.True(census.Count > 100, $"only {census.Count} paths under the root");
        Assert.Contains(suid, census);
        Assert.Equal(["s " + root], user.Reachable([root]));
        Assert.Empty(user.Reachable(census));
        var (code, stdout, stderr) = user.Run(suid, ["-c", "id -u"]);
        Assert.True(code != 0 && stdout.Trim() != "0", $"another user ran {suid}: exit {code}, output '{stdout}', errors '{stderr}'");
        Assert.Contains("Permission denied", stderr, StringComparison.Ordinal);
    }

    /// <summary>A's operator token against project B: it changes nothing of B's and learns nothing about B.</summary>
    private static async Task TenantTokenAsync(Probe probe, ImageSummary original, NetworkInfo bnet, int hostPort)
    {
        using var a = probe.Tenant(probe.TokenA);
        using var b = probe.Tenant(probe.TokenB);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        using var eventsHttp = probe.Http(probe.TokenA);
        var events = await EventStream.OpenAsync(eventsHttp, cts.Token);

        // Commit over a shared image: refused, and B still runs the original.
        await a.CreateAsync(new InstanceSpec { Tier = "container", Image = "busybox", Name = "evil", Args = ["sh", "-c", "echo pwned > /bin/owned"] });
        Assert.Equal(0, (await a.WaitAsync("evil")).ExitCode);
        foreach (var target in new[] { "busybox", "tenant-new:1" })
        {
            var refused = await Assert.ThrowsAsync<StrataApiException>(() => a.CommitAsync("evil", target));
            Assert.Equal(403, refused.Status);
            Assert.Contains("only host administrators", refused.Message, StringComparison.Ordinal);
        }
        Assert.Equal(original.Id, (await probe.Admin().InspectImageAsync("busybox")).Image.Id);
        var victim = await b.CreateAsync(new InstanceSpec { Tier = "container", Image = "busybox", Name = "victim", Args = ["sh", "-c", "test -e /bin/owned && echo owned || echo clean"] });
        Assert.Equal(original.Id, victim.Details!["image"]);
        Assert.Equal(0, (await b.WaitAsync("victim")).ExitCode);
        Assert.Equal("clean", await InstanceOutput.LogTextAsync(b, "victim"));
        await b.DeleteAsync("victim"); // a finished container keeps its files mounted until it is removed
        Assert.Equal(original.Id, (await b.GetAsync("bsecretweb")).Details!["image"]);

        // B's instance is as missing as one that does not exist.
        var missing = await Assert.ThrowsAsync<StrataApiException>(() => a.GetAsync("nosuch"));
        var foreign = await Assert.ThrowsAsync<StrataApiException>(() => a.GetAsync("bsecretweb"));
        Assert.Equal((404, missing.Message.Replace("nosuch", "bsecretweb", StringComparison.Ordinal)), (foreign.Status, foreign.Message));
        Assert.Equal(["evil"], (await a.ListAsync()).Items.Select(i => i.Name));

        // B's network: the same name is A's own, and no answer shows B's subnet.
        Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => a.InspectNetworkAsync("bnet"))).Status);
        var anet = await a.CreateNetworkAsync(new CreateNetworkRequest { Name = "bnet" });
        Assert.Equal("a", anet.Project);
        Assert.NotEqual(bnet.Subnet, anet.Subnet);
        var overlap = await Assert.ThrowsAsync<StrataApiException>(() => a.CreateNetworkAsync(new CreateNetworkRequest { Name = "probe", Subnet = "10.93.17.128/25" }));
        Assert.Equal(409, overlap.Status);
        Assert.DoesNotContain(bnet.Subnet, overlap.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("'b'", overlap.Message, StringComparison.Ordinal);
        Assert.DoesNotContain((await a.ListNetworksAsync()).Items, n => n.Subnet == bnet.Subnet);

        // B's published port: taken, without B's instance's name.
        var taken = await Assert.ThrowsAsync<StrataApiException>(() => a.CreateAsync(Sleeper("mine", "bnet", $"127.0.0.1:{hostPort}:80")));
        Assert.Equal(409, taken.Status);
        Assert.Contains("already published", taken.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("bsecretweb", taken.Message, StringComparison.Ordinal);

        // The default network is as missing as any foreign object, removal included.
        var noNetwork = await Assert.ThrowsAsync<StrataApiException>(() => a.RemoveNetworkAsync("nosuch"));
        var strata0 = await Assert.ThrowsAsync<StrataApiException>(() => a.RemoveNetworkAsync("strata0"));
        Assert.Equal((404, noNetwork.Message.Replace("nosuch", "strata0", StringComparison.Ordinal)), (strata0.Status, strata0.Message));
        Assert.Contains((await probe.Admin().ListNetworksAsync()).Items, n => n.Default && n.Name == "strata0");

        // A's event ids count A's events only: no gap where B's happened.
        await a.DeleteAsync("evil", force: true);
        Assert.True(await TestEnvironment.EventuallyAsync(() => events.Last is { Type: "deleted", Instance: "evil" }, TimeSpan.FromSeconds(30)));
        await cts.CancelAsync();
        var seen = await events.CloseAsync();
        Assert.True(seen.Count >= 3, string.Join(", ", seen.Select(e => e.Event.Type)));
        Assert.All(seen, e => Assert.Equal("a", e.Event.Project));
        Assert.Equal(Enumerable.Range(1, seen.Count).Select(n => (long)n), seen.Select(e => e.Id));
        Assert.Equal(seen.Select(e => e.Id), seen.Select(e => e.Event.Sequence));
    }

    /// <summary>Limits above the host, NUL bytes and parameters that do not bind: 400s with problem documents; nothing made.</summary>
    private static async Task InputBoundsAsync(Probe probe)
    {
        using var a = probe.Tenant(probe.TokenA);
        var memory = await Assert.ThrowsAsync<StrataApiException>(() => a.CreateAsync(new InstanceSpec
        {
            Name = "huge", Tier = "container", Image = "busybox", Args = ["true"], Resources = new ResourceSpec { MemoryBytes = 1L << 60 },
        }));
        Assert.Equal((400, "resources.memoryBytes"), (memory.Status, memory.Field));
        var cpus = await Assert.ThrowsAsync<StrataApiException>(() => a.CreateAsync(new InstanceSpec
        {
            Name = "huge", Tier = "container", Image = "busybox", Args = ["true"], Resources = new ResourceSpec { Cpus = 1000 },
        }));
        Assert.Equal((400, "resources.cpus"), (cpus.Status, cpus.Field));

        using var http = probe.Http(probe.TokenA);
        const string nul = """{"spec":{"name":"nul","tier":"container","image":"busybox","args":["sleep","a\u0000b"]}}""";
        using (var response = await http.PostAsync("v1/instances", new StringContent(nul, Encoding.UTF8, "application/json")))
        {
            Assert.Equal("args[1]", (await ProblemDocuments.BadRequestAsync(response)).Field);
        }
        await a.CreateAsync(new InstanceSpec { Tier = "container", Image = "busybox", Name = "web", Args = ["sh", "-c", Sleep] });
        using (var response = await http.PostAsync("v1/instances/web/stop?timeout=99999999999", null))
        {
            Assert.Equal("timeout", (await ProblemDocuments.BadRequestAsync(response)).Field);
        }
        Assert.Equal("running", (await a.GetAsync("web")).State);
        Assert.Equal(["web"], (await a.ListAsync()).Items.Select(i => i.Name));
    }

    /// <summary><c>strata --token</c> over the unix socket acts as the token, not as the socket's host administrator.</summary>
    private static async Task TokenOverTheSocketAsync(Probe probe, string cli)
    {
        var (code, stdout, stderr) = TestEnvironment.Exec(cli, ["--socket", probe.Socket, "--token", probe.TokenA, "commit", "web", "busybox"]);
        Assert.True(code != 0, stdout);
        Assert.Contains("only host administrators", stderr + stdout, StringComparison.Ordinal);
        (code, stdout, stderr) = TestEnvironment.Exec(cli, ["--socket", probe.Socket, "--token", probe.TokenA, "ps"]);
        Assert.True(code == 0, stderr);
        Assert.Contains("web", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("suid", stdout, StringComparison.Ordinal); // the host administrator's, in the default project
        using var socketA = new StrataClient(new ClientOptions { Socket = probe.Socket, Token = probe.TokenA });
        Assert.Equal(["web"], (await socketA.ListAsync()).Items.Select(i => i.Name));
    }

    /// <summary><c>image rm -f</c> and <c>image prune</c> under a running container: it keeps its files and restarts.</summary>
    private static async Task ImageRemovedUnderARunningContainerAsync(Probe probe)
    {
        var admin = probe.Admin();
        // An image of its own (a layer no other image has) over busybox.
        await admin.CreateAsync(new InstanceSpec { Tier = "container", Image = "busybox", Name = "marker", Args = ["sh", "-c", "echo probe > /marker"] });
        Assert.Equal(0, (await admin.WaitAsync("marker")).ExitCode);
        await admin.CommitAsync("marker", "doomed:1");
        await admin.DeleteAsync("marker");
        var keeper = await admin.CreateAsync(new InstanceSpec { Tier = "container", Image = "doomed:1", Name = "keeper", Args = ["sh", "-c", Sleep] });
        var layers = keeper.Details!["layers"].Split('\n');
        Assert.Equal(2, layers.Length);

        var removed = await admin.RemoveImageAsync("doomed:1", force: true);
        Assert.Equal(["keeper"], removed.StillUsedBy);
        var prune = await admin.PruneImagesAsync();
        Assert.Equal(0, prune.LayersRemoved);
        Assert.All(layers, l => Assert.True(Directory.Exists(l) && Directory.EnumerateFileSystemEntries(l).Any(), $"{l} lost its files"));
        Assert.Equal((0, "probe"), await InstanceOutput.ExecAsync(admin, "keeper", "test -x /bin/busybox && ls /bin | grep -qx sh && cat /marker"));

        await admin.StopAsync("keeper", 5);
        Assert.Equal("running", (await admin.StartAsync("keeper")).State);
        Assert.Equal((0, "probe"), await InstanceOutput.ExecAsync(admin, "keeper", "test -x /bin/busybox && cat /marker"));
    }

    /// <summary>An archive that is itself a decompression bomb (64 MiB of zeros, gzipped) against an 8 MiB limit: refused cleanly.</summary>
    private static async Task DecompressionBombAsync(Probe probe, string parent)
    {
        var content = Path.Combine(parent, "bomb");
        Directory.CreateDirectory(Path.Combine(content, "abc"));
        using (var layer = File.Create(Path.Combine(content, "abc", "layer.tar")))
        {
            layer.SetLength(64L << 20); // sparse: zeros that cost no disk
        }
        var archive = Path.Combine(parent, "bomb.tar.gz");
        using (var gzip = new GZipStream(File.Create(archive), CompressionLevel.SmallestSize))
        {
            TarFile.CreateFromDirectory(content, gzip, includeBaseDirectory: false);
        }
        Directory.Delete(content, recursive: true);
        Assert.True(new FileInfo(archive).Length < 1L << 20);

        var admin = probe.Admin();
        var before = (await admin.ListImagesAsync()).Items.Select(i => i.Name).ToList();
        await using (var stream = File.OpenRead(archive))
        {
            var e = await Assert.ThrowsAsync<StrataApiException>(() => admin.ImportImageAsync(stream, "bomb:1"));
            Assert.Contains("--unpack-max-size", e.Message, StringComparison.Ordinal);
        }
        Assert.Equal(before, (await admin.ListImagesAsync()).Items.Select(i => i.Name));
        Assert.DoesNotContain(Directory.EnumerateFiles(probe.Root, "*.tmp", SearchOption.AllDirectories), f => !f.Contains("/rootfs/", StringComparison.Ordinal));
    }

    private static InstanceSpec Sleeper(string name, string network, string port) => new()
    {
        Tier = "container", Image = "busybox", Name = name, Network = network, Args = ["sleep", "600"], Ports = [PortSpec.Parse(port)],
    };

    /// <summary>The daemon under probe: its paths, its TCP port, the two tenants' tokens, and clients (the socket's are kept, one per project).</summary>
    private sealed class Probe(string parent, int port) : IDisposable
    {
        private readonly Dictionary<string, StrataClient> _admins = [];

        public string Root { get; } = Path.Combine(parent, "root");
        public string Socket { get; } = Path.Combine(parent, "d.sock");
        public int Port { get; } = port;
        public string TokenA { get; set; } = "";
        public string TokenB { get; set; } = "";

        /// <summary>The host administrator over the unix socket, acting in <paramref name="project"/>.</summary>
        public StrataClient Admin(string project = "default")
        {
            if (!_admins.TryGetValue(project, out var client))
            {
                client = _admins[project] = new StrataClient(new ClientOptions { Socket = Socket, Project = project });
            }
            return client;
        }

        public StrataClient Tenant(string token) => new(new ClientOptions { Host = new Uri($"http://127.0.0.1:{Port}"), Token = token });

        public HttpClient Http(string token)
        {
            var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Port}/") };
            http.DefaultRequestHeaders.Authorization = new("Bearer", token);
            return http;
        }

        public async Task RemoveEverythingAsync()
        {
            foreach (var project in new[] { "default", "a", "b" })
            {
                foreach (var i in (await Admin(project).ListAsync()).Items)
                {
                    await Admin(project).DeleteAsync(i.Name, force: true);
                }
                foreach (var n in (await Admin(project).ListNetworksAsync()).Items.Where(n => !n.Default))
                {
                    await Admin(project).RemoveNetworkAsync(n.Name);
                }
            }
        }

        /// <summary>Drops the socket clients (and their connections to a daemon that was killed).</summary>
        public void Reconnect()
        {
            foreach (var client in _admins.Values)
            {
                client.Dispose();
            }
            _admins.Clear();
        }

        public void Dispose() => Reconnect();
    }
}
