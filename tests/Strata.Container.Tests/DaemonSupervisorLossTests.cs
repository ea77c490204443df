using Microsoft.Extensions.Logging;
using Strata.Client;
using Strata.Contracts;
using Strata.Daemon;
using Strata.Node.Supervision;
using Strata.Testing;

namespace Strata.Container.Tests;

/// <summary>
/// A container's supervisor killed with SIGKILL, through the real daemon: the state says what is true within a second
/// (no more "exited 137" while the container runs on), and rm -f leaves no process, mount, cgroup or runtime state.
/// </summary>
[Collection(ContainerCollection.Name)]
public sealed class DaemonSupervisorLossTests(ContainerFixture fx)
{
    [SkippableFact]
    public async Task SupervisorKilled_RunningContainer_FailedWithinASecond_RmLeavesNothing()
    {
        fx.RequireEngine();
        var socket = Path.Combine(fx.Root, "lost.sock");
        var root = Path.Combine(fx.Root, "daemon-lost");
        await using var host = await DaemonHost.StartAsync(new DaemonOptions
        {
            Root = root,
            Socket = socket,
            Supervisor = fx.Supervisor,
            Images = new Dictionary<string, string> { ["busybox"] = fx.Rootfs },
        }, logging => logging.ClearProviders());
        using var client = new StrataClient(new ClientOptions { Socket = socket });
        var created = await client.CreateAsync(new InstanceSpec { Tier = "container", Image = "busybox", Name = "orphan", Args = ["sh", "-c", "sleep 600 & exec sleep 600"] });
        Assert.Equal("running", created.State);
        var runtimePid = created.Pid!.Value;
        var supervisor = ProcessCensus.ParentOf(runtimePid);
        var directory = Path.Combine(root, "instances", created.Id);
        // The container's processes: wait until runc has started both, in this container's cgroup (a "sleep 600" of
        // another test's container left on the host must not end the wait while runc is still creating this one).
        Assert.True(await TestEnvironment.EventuallyAsync(
            () => ProcessCensus.Naming("sleep 600").Count(p => ProcessCensus.InCgroupOf(created.Id).Contains(p.Pid)) >= 2,
            TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(10)), "the container's two sleeps never ran");

        var (info, noticed) = await ProcessCensus.KillAndWatchAsync(supervisor, () => client.GetAsync("orphan"), i => i.State != "running");

        Assert.Equal("failed", info.State);
        Assert.Equal(SupervisedRuntime.LostAndStopped, info.Reason);
        Assert.Null(info.ExitCode);
        Assert.True(noticed <= TimeSpan.FromSeconds(2), $"the state changed after {noticed.TotalMilliseconds:0} ms");
        Assert.False(Directory.Exists(Path.Combine(root, "run", "oci", created.Id)), "the OCI runtime still has the container");
        Assert.False(ProcessCensus.Alive(runtimePid), "the runtime process still runs");

        await client.DeleteAsync("orphan", force: true);
        Assert.Empty((await client.ListAsync()).Items);
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(directory, StringComparison.Ordinal));
        var cgroups = Directory.GetDirectories("/sys/fs/cgroup").Append("/sys/fs/cgroup").Select(h => Path.Combine(h, "strata", created.Id));
        Assert.DoesNotContain(cgroups, Directory.Exists);
        Assert.DoesNotContain(ProcessCensus.Naming(directory), p => p.Pid != Environment.ProcessId);
    }
}
