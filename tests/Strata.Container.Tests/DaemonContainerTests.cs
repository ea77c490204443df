using System.Text;
using Microsoft.Extensions.Logging;
using Strata.Client;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Daemon;

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

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 20 s");
            await Task.Delay(20);
        }
    }
}
