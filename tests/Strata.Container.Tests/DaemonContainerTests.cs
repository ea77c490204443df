using System.Text;
using Microsoft.Extensions.Logging;
using Strata.Client;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Daemon;
using Strata.Testing;

namespace Strata.Container.Tests;

/// <summary>The container tier end to end through the real daemon, its REST API and the typed client.</summary>
[Collection(ContainerCollection.Name)]
public sealed class DaemonContainerTests(ContainerFixture fx)
{
    [SkippableFact]
    public async Task Daemon_RunExecStatsTop_ThroughTheApi()
    {
        fx.RequireEngine();
        var socket = Path.Combine(fx.Root, "d.sock");
        await using var host = await DaemonHost.StartAsync(new DaemonOptions
        {
            Root = Path.Combine(fx.Root, "daemon"),
            Socket = socket,
            Supervisor = fx.Supervisor,
            Images = new Dictionary<string, string> { ["busybox"] = fx.Rootfs },
        }, logging => logging.ClearProviders());
        using var client = new StrataClient(new ClientOptions { Socket = socket });

        var info = await client.InfoAsync();
        var container = info.Tiers.Single(t => t.Tier == "container");
        Assert.True(container.Available, container.Reason);
        Assert.Contains("stateful checkpoints", container.Reason);
        if (Strata.Node.Cgroups.CgroupFavorDynMods.Find(File.ReadAllText("/proc/self/mountinfo")) is not null && Environment.OSVersion.Version.Major >= 6)
        {
            // The daemon turned the option on at start (it needs a cgroup2 mount and Linux 6.0+).
            Assert.Contains("favordynmods", info.Host.Cgroups, StringComparison.Ordinal);
        }

        // Attached run with --rm: output, exit code, and the instance is gone afterwards.
        var output = new StringBuilder();
        int? code = null;
        await foreach (var frame in client.RunAttachedAsync(new InstanceSpec
        {
            Tier = "container", Image = "busybox", Name = "once", AutoRemove = true, Args = ["sh", "-c", "echo hi from $HOSTNAME; exit 7"],
        }))
        {
            output.Append(frame.Log?.Text);
            code = frame.Exit?.ExitCode ?? code;
        }
        Assert.Equal(7, code);
        Assert.Contains("hi from once", output.ToString());
        await WaitUntilAsync(async () => (await client.ListAsync()).Items.All(i => i.Name != "once"));

        // Unknown image: 400 naming the field.
        var bad = await Assert.ThrowsAsync<StrataApiException>(() => client.CreateAsync(new InstanceSpec { Tier = "container", Image = "nope" }));
        Assert.Equal(ErrorKind.InvalidArgument, bad.Kind);
        Assert.Equal("image", bad.Field);

        var created = await client.CreateAsync(new InstanceSpec
        {
            Tier = "container", Image = "busybox", Name = "svc", Resources = new ResourceSpec { MemoryBytes = 64 << 20 },
            Args = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"],
        });
        Assert.Equal("running", created.State);
        Assert.StartsWith("runc", created.Details!["runtime"], StringComparison.Ordinal);

        var exec = new StringBuilder();
        int? execCode = null;
        await WaitUntilAsync(async () =>
        {
            try
            {
                await foreach (var frame in client.ExecAsync("svc", new ExecRequest { Command = ["sh", "-c", "echo out; echo err >&2; exit 4"] }))
                {
                    exec.Append(frame.Log is { } l ? $"{l.Stream}:{l.Text};" : "");
                    execCode = frame.Exit?.ExitCode ?? execCode;
                }
                return true;
            }
            catch (StrataApiException e) when (e.Kind == ErrorKind.Conflict)
            {
                return false; // the runtime is still creating the container
            }
        });
        Assert.Equal(4, execCode);
        Assert.Contains("stdout:out;", exec.ToString());
        Assert.Contains("stderr:err;", exec.ToString());

        var tty = await Assert.ThrowsAsync<StrataApiException>(async () =>
        {
            await foreach (var _ in client.ExecAsync("svc", new ExecRequest { Command = ["sh"], Tty = true }))
            {
            }
        });
        Assert.Equal("tty", tty.Field);

        var stats = await client.StatsAsync("svc");
        Assert.Equal("svc", stats.Name);
        Assert.Equal(64L << 20, stats.MemoryLimitBytes);
        Assert.True(stats.Pids >= 1);
        var top = await client.TopAsync("svc");
        Assert.Contains(top.Processes, p => p.Command.StartsWith("sh -c trap", StringComparison.Ordinal));

        var stopped = await client.StopAsync("svc", 10);
        Assert.Equal("stopped", stopped.State);
        Assert.Equal(0, stopped.ExitCode);
        var notRunning = await Assert.ThrowsAsync<StrataApiException>(() => client.StatsAsync("svc"));
        Assert.Equal(ErrorKind.Conflict, notRunning.Kind);
        await client.DeleteAsync("svc");
    }

    [SkippableFact]
    public async Task RuntimeConfig_CreatedContainer_IsTheBundleRuncRuns_OtherTiersAndMissingAreClearErrors()
    {
        fx.RequireEngine();
        var socket = Path.Combine(fx.Root, "cfg.sock");
        var root = Path.Combine(fx.Root, "daemon-cfg");
        int? spare;
        await using (var host = await DaemonHost.StartAsync(new DaemonOptions
        {
            Root = root,
            Socket = socket,
            Supervisor = fx.Supervisor,
            Images = new Dictionary<string, string> { ["busybox"] = fx.Rootfs },
        }, logging => logging.ClearProviders()))
        {
            using var client = new StrataClient(new ClientOptions { Socket = socket });
            var created = await client.CreateAsync(new InstanceSpec
            {
                Tier = "container", Image = "busybox", Name = "cfg", Args = ["sh", "-c", "echo cfg"], Resources = new ResourceSpec { Pids = 77 },
            }, start: false);
            Assert.Equal("created", created.State);

            var config = System.Text.Json.Nodes.JsonNode.Parse(await client.RuntimeConfigAsync("cfg"))!;
            Assert.Equal(["sh", "-c", "echo cfg"], config["process"]!["args"]!.AsArray().Select(a => a!.GetValue<string>()));
            Assert.Equal("cfg", config["hostname"]!.GetValue<string>());
            Assert.True(config["process"]!["noNewPrivileges"]!.GetValue<bool>());
            Assert.Equal(77, config["linux"]!["resources"]!["pids"]!["limit"]!.GetValue<long>());
            Assert.Equal("SCMP_ACT_ERRNO", config["linux"]!["seccomp"]!["defaultAction"]!.GetValue<string>());
            // It is the very file of the bundle the runtime is started with.
            var bundleFile = Directory.GetFiles(Path.Combine(root, "instances"), "config.json", SearchOption.AllDirectories).Single();
            Assert.Equal(File.ReadAllText(bundleFile), await client.RuntimeConfigAsync("cfg"));

            var process = await client.CreateAsync(new InstanceSpec { Tier = "process", Name = "plain", Command = ["/bin/true"] }, start: false);
            var notContainer = await Assert.ThrowsAsync<StrataApiException>(() => client.RuntimeConfigAsync(process.Name));
            Assert.Equal(ErrorKind.InvalidArgument, notContainer.Kind);
            Assert.Contains("only container instances", notContainer.Message);
            var missing = await Assert.ThrowsAsync<StrataApiException>(() => client.RuntimeConfigAsync("nope"));
            Assert.Equal(ErrorKind.NotFound, missing.Kind);

            // The daemon keeps a standby supervisor for the next container run; it goes with the daemon.
            await client.StartAsync("cfg");
            Assert.Equal(0, (await client.WaitAsync("cfg")).ExitCode);
            spare = StandbySupervisors().SingleOrDefault();
            Assert.NotNull(spare);
        }
        // Gone or a zombie; read through ProcessCensus, which takes a process that ends between two reads as gone.
        await WaitUntilAsync(() => Task.FromResult(!ProcessCensus.Alive(spare!.Value)));
    }

    [SkippableFact]
    public async Task InterruptedRemoval_NextDaemonStart_FinishesTheDriversCleanup()
    {
        fx.RequireEngine();
        var socket = Path.Combine(fx.Root, "irm.sock");
        var root = Path.Combine(fx.Root, "daemon-irm");
        var instances = Path.Combine(root, "instances");
        DaemonOptions Options() => new()
        {
            Root = root,
            Socket = socket,
            Supervisor = fx.Supervisor,
            Images = new Dictionary<string, string> { ["busybox"] = fx.Rootfs },
        };
        string id;
        await using (var host = await DaemonHost.StartAsync(Options(), logging => logging.ClearProviders()))
        {
            using var client = new StrataClient(new ClientOptions { Socket = socket });
            var created = await client.CreateAsync(new InstanceSpec { Tier = "container", Image = "busybox", Name = "half", Args = ["sh", "-c", "echo x > /written"] });
            Assert.Equal(0, (await client.WaitAsync("half")).ExitCode);
            id = created.Id;
        }
        // A finished container keeps its overlay mounted until it is removed.
        Assert.Contains(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(Path.Combine(instances, id), StringComparison.Ordinal));

        // What a crash in the middle of an auto-removal leaves: the record is gone, the removal marker
        // ("strata-removal 1 TIER" + the driver handle) is written, the driver's cleanup has not run.
        using (var store = new Strata.Store.SqliteStateStore(Path.Combine(root, "state.db")))
        {
            var record = await store.GetAsync(id) ?? throw new Xunit.Sdk.XunitException("the record is missing");
            await File.WriteAllTextAsync(Path.Combine(instances, id, "removing"),
                "strata-removal 1 container\n" + System.Text.Json.JsonSerializer.Serialize(record.Handle!, StrataJsonContext.Default.DriverHandle) + "\n");
            Assert.True(await store.DeleteAsync(id));
        }

        await using (var host = await DaemonHost.StartAsync(Options(), logging => logging.ClearProviders()))
        {
            using var client = new StrataClient(new ClientOptions { Socket = socket });
            Assert.DoesNotContain((await client.ListAsync()).Items, i => i.Name == "half");
            Assert.False(Directory.Exists(Path.Combine(instances, id)), "the instance directory survived the sweep");
            Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(Path.Combine(instances, id), StringComparison.Ordinal));
            var cgroups = Directory.GetDirectories("/sys/fs/cgroup").Append("/sys/fs/cgroup").Select(h => Path.Combine(h, "strata", id));
            Assert.DoesNotContain(cgroups, Directory.Exists);
        }
    }

    /// <summary>strata-supervisor processes in standby whose parent is this test process (the in-process daemon).</summary>
    private static List<int> StandbySupervisors()
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline"));
                if (cmdline.Contains(SupervisorName, StringComparison.Ordinal) && cmdline.EndsWith("\0standby\0", StringComparison.Ordinal) && ParentOf(pid) == Environment.ProcessId)
                {
                    found.Add(pid);
                }
            }
            catch (IOException)
            {
                // gone meanwhile
            }
        }
        return found;
    }

    private const string SupervisorName = "strata-supervisor";

    private static int ParentOf(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    [SkippableFact]
    public async Task AttachedRemoveRun_NameIsFreeAtTheExitFrame_AndNothingIsLeftBehind()
    {
        fx.RequireEngine();
        var socket = Path.Combine(fx.Root, "rm.sock");
        var root = Path.Combine(fx.Root, "daemon-rm");
        await using var host = await DaemonHost.StartAsync(new DaemonOptions
        {
            Root = root,
            Socket = socket,
            Supervisor = fx.Supervisor,
            Images = new Dictionary<string, string> { ["busybox"] = fx.Rootfs },
        }, logging => logging.ClearProviders());
        using var client = new StrataClient(new ClientOptions { Socket = socket });

        // The same name three times in a row, each started as soon as the previous one's exit code is known.
        for (var i = 0; i < 3; i++)
        {
            int? code = null;
            await foreach (var frame in client.RunAttachedAsync(new InstanceSpec
            {
                Tier = "container", Image = "busybox", Name = "again", AutoRemove = true, Args = ["sh", "-c", $"exit {i + 3}"],
            }))
            {
                code = frame.Exit?.ExitCode ?? code;
            }
            Assert.Equal(i + 3, code);
            var gone = await Assert.ThrowsAsync<StrataApiException>(() => client.GetAsync("again"));
            Assert.Equal(ErrorKind.NotFound, gone.Kind);
        }

        // The background cleanup finishes: no instance directory, no overlay mount, no cgroup left.
        var instances = Path.Combine(root, "instances");
        await WaitUntilAsync(() => Task.FromResult(Directory.GetDirectories(instances).Length == 0));
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(instances, StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task Commit_StoppedContainer_NewImageSeesTheChangedFileAndNotTheDeletedOne()
    {
        fx.RequireEngine();
        var socket = Path.Combine(fx.Root, "commit.sock");
        await using var host = await DaemonHost.StartAsync(new DaemonOptions
        {
            Root = Path.Combine(fx.Root, "daemon-commit"),
            Socket = socket,
            Supervisor = fx.Supervisor,
        }, logging => logging.ClearProviders());
        using var client = new StrataClient(new ClientOptions { Socket = socket });
        await client.BuildBaseImageAsync("busybox:latest");

        await client.CreateAsync(new InstanceSpec
        {
            Tier = "container", Image = "busybox:latest", Name = "changer",
            Args = ["sh", "-c", "echo committed > /etc/note && mkdir -p /opt/app && echo x > /opt/app/f && rm /etc/group"],
        });
        var done = await client.WaitAsync("changer");
        Assert.Equal(0, done.ExitCode);
        var running = await client.CreateAsync(new InstanceSpec { Tier = "container", Image = "busybox:latest", Name = "busy", Args = ["sleep", "60"] });
        var refused = await Assert.ThrowsAsync<StrataApiException>(() => client.CommitAsync("busy", "nope:1"));
        Assert.Equal(ErrorKind.Conflict, refused.Kind);
        await client.DeleteAsync("busy", force: true);

        var image = await client.CommitAsync("changer", "changed:1", ["sh", "-c", "cat /etc/note /opt/app/f; test -e /etc/group && echo group-present || echo group-gone"]);
        var detail = await client.InspectImageAsync("changed:1");
        Assert.Equal(2, detail.Layers.Count);
        Assert.Equal("application/vnd.oci.image.layer.v1.tar+gzip", detail.Layers[^1].MediaType);
        Assert.Equal("changed:1", image.Name);

        var output = new StringBuilder();
        int? code = null;
        await foreach (var frame in client.RunAttachedAsync(new InstanceSpec { Tier = "container", Image = "changed:1", AutoRemove = true }))
        {
            output.Append(frame.Log?.Text).Append(frame.Log is null ? "" : "\n");
            code = frame.Exit?.ExitCode ?? code;
        }
        Assert.Equal(0, code);
        Assert.Equal("committed\nx\ngroup-gone\n", output.ToString());
    }

    internal static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 20 s");
            await Task.Delay(20);
        }
    }
}
