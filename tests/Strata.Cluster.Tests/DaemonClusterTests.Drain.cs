using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Strata.Client;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Cluster.Tests;

/// <summary>
/// The issue's "drain a node with a VM, two containers and a wasm module" on three published daemons, with one VM (real
/// QEMU under TCG) booted once: a live move by node name cancelled while RAM is sent leaves the guest on its node, then
/// the drain moves it live (its counter goes on) with the containers, the module and a sandbox with a <c>-v</c> mount
/// cold (its disk and its mount go with it), and the node records' free resources follow. A second project's token
/// sees, moves and drains nothing.
/// </summary>
public sealed partial class DaemonClusterTests
{
    private const string Vm = "mv29l-vm";
    private const string Sandbox = "mv29l-s";

    [SkippableFact]
    public async Task Drain_MovesAVmLiveAndTwoContainersAndAWasmModuleOffTheNode_ACancelledLiveMoveLeavesTheVm_AnotherProjectTouchesNothing()
    {
        var (drained, _, first) = _nodes[0]; // first: the drained node's own socket, where its moves and the drain run
        TestEnvironment.Require(TestEnvironment.Supervisor is not null, "strata-supervisor is not built; run scripts/publish-native.sh");
        TestEnvironment.Require(File.Exists("/usr/bin/qemu-system-x86_64"), "qemu-system-x86_64 is missing; apt-get install qemu-system-x86 qemu-utils");
        TestEnvironment.Require(Directory.GetFiles("/boot", "vmlinuz-*-cloud-amd64").Length > 0, "the guest kernel is missing; apt-get install linux-image-cloud-amd64");
        TestEnvironment.Require(Strata.Node.Drivers.Container.OciRuntime.StaticBusybox() is not null, "a static busybox (busybox-static) for the container image");
        Assert.True(await TestEnvironment.EventuallyAsync(() => Nodes(first).Count(n => n.GetProperty("status").GetString() == "online") == 3,
            TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(200)));
        var pin = new Dictionary<string, string> { ["strata.cluster/node"] = drained };
        var drainedRoot = Path.Combine(_daemons.Dir, drained);
        try
        {
            await DrainScenarioAsync(first, drained, drainedRoot, pin);
        }
        finally
        {
            // A failed run leaves nothing behind: containers and QEMU outlive their daemon.
            try
            {
                foreach (var i in (await first.ListAsync()).Items)
                {
                    await first.DeleteAsync(i.Name, force: true);
                }
            }
            catch (Exception e) when (e is StrataApiException or HttpRequestException or DaemonUnreachableException)
            {
            }
            foreach (var pid in QemuPids(_daemons.Dir))
            {
                TestEnvironment.Exec("kill", ["-KILL", pid.ToString(CultureInfo.InvariantCulture)]);
            }
        }
    }

    private async Task DrainScenarioAsync(StrataClient first, string drained, string drainedRoot, Dictionary<string, string> pin)
    {

        // The VM counts every 100 ms; a restart would start again at 1.
        await first.BuildBaseImageAsync("busybox");
        await first.CreateAsync(new InstanceSpec
        {
            Name = Vm, Tier = "vm", Image = "busybox:latest", Labels = pin,
            Resources = new ResourceSpec { Cpus = 1, MemoryBytes = 256L << 20 },
            Args = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done"],
        });
        Assert.True(await TestEnvironment.EventuallyAsync(async () => LastTick(await LogsAsync(first, Vm)) >= 3, TimeSpan.FromSeconds(240), TimeSpan.FromMilliseconds(300)),
            "the VM never counted on " + drained + "\n" + _daemons.Nodes[0].LastOutput());
        Assert.True(await TestEnvironment.EventuallyAsync(() => QemuPids(drainedRoot).Count == 1, TimeSpan.FromSeconds(60)), "not one QEMU runs the VM");
        var qemu = QemuPids(drainedRoot)[0];

        // A second project's token: nothing to see, move or drain.
        await first.CreateProjectAsync(new CreateProjectRequest { Name = "mv29lother" });
        var otherToken = (await first.CreateTokenAsync("mv29lother", ProjectRoles.Admin, "mv29l")).Token!;
        using var other = _daemons.Nodes[0].Tcp(otherToken);
        Assert.True(await TestEnvironment.EventuallyAsync(() => ClusterDaemons.Works(() => other.ListAsync()), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(50)));
        Assert.Empty((await other.ListAsync()).Items);
        Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => other.MoveAsync(Vm, new MoveRequest { Node = _nodes[1].Node }))).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<StrataApiException>(() => other.DrainNodeAsync(drained))).Status);

        // A live move by node name, asked of a third node and followed and cancelled through it (the operation runs on
        // the VM's node; the third relays), cancelled while RAM is sent (1 MiB/s keeps it there): the guest runs on
        // where it was, in the same QEMU, the marker is gone, the assignment stays, the target runs no QEMU.
        var third = _nodes[2].Client;
        var slow = await third.MoveAsync(Vm, new MoveRequest { Node = _nodes[1].Node, Bandwidth = "1M" });
        Assert.True(await TestEnvironment.EventuallyAsync(async () =>
            (await third.GetOperationAsync(slow.Id)).Progress.Items.Any(i => i.Id == "ram" && i.Current > 0), TimeSpan.FromSeconds(180), TimeSpan.FromMilliseconds(200)),
            "the live move never started sending RAM: " + JsonSerializer.Serialize(await first.GetOperationAsync(slow.Id), StrataJsonContext.Default.OperationInfo));
        Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => other.CancelOperationAsync(slow.Id))).Status);
        // The operation list is the cluster's: asked of the third node, it holds the move running on the VM's node, named.
        var operations = await third.ListOperationsAsync();
        Assert.Contains(operations.Items, o => o.Id == slow.Id && o.Node == drained && o.Kind == "move" && o.Status == OperationStatusNames.Running);
        Assert.Empty(operations.Unanswered!);
        using (var otherOnThird = _daemons.Nodes[2].Tcp(otherToken))
        {
            Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => otherOnThird.GetOperationAsync(slow.Id))).Status);
            Assert.DoesNotContain((await otherOnThird.ListOperationsAsync()).Items, o => o.Id == slow.Id);
        }
        var cancelled = await third.CancelOperationAsync(slow.Id);
        while (!OperationStatusNames.IsFinished(cancelled.Status))
        {
            cancelled = await third.WaitOperationAsync(slow.Id, TimeSpan.FromSeconds(30));
        }
        Assert.Equal(OperationStatusNames.Cancelled, cancelled.Status);
        await using var h = new ClusterHarness(etcd);
        Assert.Empty((await h.Client.GetPrefixAsync(ClusterKeys.Moves)).Kvs);
        Assert.Equal(drained, (await first.GetAsync(Vm)).Details!["node"]);
        Assert.True(Directory.Exists($"/proc/{qemu}"), "the guest's QEMU did not survive the cancelled move");
        Assert.True(await TestEnvironment.EventuallyAsync(() => QemuPids(Path.Combine(_daemons.Dir, _nodes[1].Node)).Count == 0, TimeSpan.FromSeconds(30)),
            "the cancelled move left a QEMU on the target");
        var afterCancel = LastTick(await LogsAsync(first, Vm));
        Assert.True(await TestEnvironment.EventuallyAsync(async () => LastTick(await LogsAsync(first, Vm)) >= afterCancel + 5, TimeSpan.FromSeconds(120), TimeSpan.FromMilliseconds(300)),
            "the guest stopped counting after the cancelled move");

        // Two containers and a wasm module join it on the node.
        var wat = Path.Combine(_daemons.Dir, "mv29l-spin.wat");
        await File.WriteAllTextAsync(wat, "(module (func (export \"_start\") (loop $l (br $l))))");
        var small = new ResourceSpec { Cpus = 0.1, MemoryBytes = 64L << 20 };
        foreach (var c in new[] { "mv29l-a", "mv29l-b" })
        {
            await first.CreateAsync(new InstanceSpec { Name = c, Tier = "container", Image = "mv20cbox", Args = ["sleep", "600"], Labels = pin, Resources = small });
        }
        await first.CreateAsync(new InstanceSpec { Name = "mv29l-w", Tier = "wasm", Image = wat, Labels = pin, Resources = small with { MemoryBytes = 32L << 20 } });
        // And a sandbox sharing a host directory (virtio-fs does not migrate, so it moves cold by node name): each run
        // marks its disk and prints the marks and the host's file.
        var share = Path.Combine(_daemons.Dir, "mv29l-share");
        Directory.CreateDirectory(share);
        await File.WriteAllTextAsync(Path.Combine(share, "in.txt"), "mv29l-from-the-host\n");
        await first.CreateAsync(new InstanceSpec
        {
            Name = Sandbox, Tier = "sandbox", Image = "mv20cbox", Labels = pin, Resources = new ResourceSpec { Cpus = 0.5, MemoryBytes = 256L << 20 },
            Mounts = [new MountSpec { Source = share, Target = "/data" }],
            Args = ["sh", "-c", "echo run >> /mv29l-runs; echo runs $(wc -l < /mv29l-runs); cat /data/in.txt; while true; do sleep 1; done"],
        });
        Assert.True(await TestEnvironment.EventuallyAsync(() => first.ListAsync().GetAwaiter().GetResult().Items.Count(i => i.State == "running" && i.Details!["node"] == drained) == 5,
            TimeSpan.FromSeconds(120), TimeSpan.FromMilliseconds(200)), "the five instances did not run on " + drained);
        Assert.True(await TestEnvironment.EventuallyAsync(async () => (await LogsAsync(first, Sandbox)).Contains("runs 1", StringComparison.Ordinal),
            TimeSpan.FromSeconds(120), TimeSpan.FromMilliseconds(300)), "the sandbox never ran: " + await LogsAsync(first, Sandbox));
        await AssertFreeFollowsAssignmentsAsync(first, h);

        // The drain, as an operation: five moves, the VM's live.
        var lastBefore = LastTick(await LogsAsync(first, Vm));
        var drain = await first.DrainNodeAsync(drained);
        Assert.Equal("drain", drain.Kind);
        Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => other.GetOperationAsync(drain.Id))).Status);
        var limit = System.Diagnostics.Stopwatch.StartNew();
        while (!OperationStatusNames.IsFinished(drain.Status) && limit.Elapsed < TimeSpan.FromMinutes(15))
        {
            drain = await first.WaitOperationAsync(drain.Id, TimeSpan.FromSeconds(30));
        }
        var items = string.Join("\n", drain.Progress.Items.Select(i => $"{i.Id} {i.Phase} {i.Message}"));
        Assert.True(drain.Status == OperationStatusNames.Succeeded, $"{drain.Status}: {drain.Error?.Detail}\n{items}\n{_daemons.Nodes[0].LastOutput()}");
        Assert.True(drain.Progress.Items.Count == 5 && drain.Progress.Items.All(i => i.Phase == "moved"), items);
        Assert.Equal(5, drain.Progress.Current);
        Assert.Equal(5, drain.Progress.Total);
        var result = drain.Result!.Value;
        Assert.Equal(5, result.GetProperty("moved").GetArrayLength());
        Assert.Equal(0, result.GetProperty("failed").GetArrayLength());
        Assert.Equal(0, result.GetProperty("notMovable").GetArrayLength());

        // Everything runs elsewhere; nothing is left on the drained node: no assignment, no report, no QEMU.
        var listed = (await first.ListAsync()).Items.Where(i => i.Name.StartsWith("mv29l-", StringComparison.Ordinal)).ToList();
        Assert.Equal(5, listed.Count);
        Assert.All(listed, i => Assert.NotEqual(drained, i.Details!["node"]));
        Assert.True(await TestEnvironment.EventuallyAsync(() => first.ListAsync().GetAwaiter().GetResult().Items.Count(i => i.State == "running") == 5,
            TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(200)));
        Assert.Empty((await h.Client.GetPrefixAsync(ClusterKeys.AssignmentsOf(drained))).Kvs);
        // By its pid: the target's QEMU may name the drained node's kernel cache (on one host the target uses the source's kernel path).
        Assert.True(await TestEnvironment.EventuallyAsync(() => !Directory.Exists($"/proc/{qemu}"), TimeSpan.FromSeconds(30)), "the source QEMU still runs");
        Assert.True(await TestEnvironment.EventuallyAsync(() => h.Client.GetPrefixAsync(ClusterKeys.StatesOf(drained)).GetAwaiter().GetResult().Kvs.Count == 0,
            TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(200)), "the drained node still reports a copy");

        // The VM moved live: its counter carried on from where it was on the drained node (no 'tick 1' there).
        var vmNode = listed.Single(i => i.Name == Vm).Details!["node"];
        var vmRoot = Path.Combine(_daemons.Dir, vmNode);
        var sandboxNode = listed.Single(i => i.Name == Sandbox).Details!["node"];
        Assert.Equal(sandboxNode == vmNode ? 2 : 1, QemuPids(vmRoot).Count);
        Assert.True(await TestEnvironment.EventuallyAsync(async () => LastTick(await LogsAsync(first, Vm)) >= lastBefore + 10, TimeSpan.FromSeconds(120), TimeSpan.FromMilliseconds(300)),
            "the guest did not count on after the live move");
        var ticks = Ticks(await LogsAsync(first, Vm));
        Assert.True(ticks[0] > lastBefore, $"the counter restarted on {vmNode}: its first tick there is {ticks[0]}, the last seen on {drained} {lastBefore}");

        // The sandbox moved cold with its disk (its second run sees the first's mark) and its mount.
        Assert.True(await TestEnvironment.EventuallyAsync(async () => (await LogsAsync(first, Sandbox)).Contains("runs 2", StringComparison.Ordinal),
            TimeSpan.FromSeconds(120), TimeSpan.FromMilliseconds(300)), $"the sandbox did not run again on {sandboxNode} with its disk: " + await LogsAsync(first, Sandbox));
        Assert.Contains("mv29l-from-the-host", await LogsAsync(first, Sandbox), StringComparison.Ordinal);

        // The free resources moved with the instances: every node's record is its capacity less what is assigned to it.
        await AssertFreeFollowsAssignmentsAsync(first, h);
        var drainedInfo = Nodes(first).Single(n => n.GetProperty("name").GetString() == drained);
        Assert.Equal(drainedInfo.GetProperty("capacity").GetProperty("memoryBytes").GetInt64(), drainedInfo.GetProperty("free").GetProperty("memoryBytes").GetInt64());

        Assert.Empty((await other.ListAsync()).Items);
        Assert.Equal("online", JsonDocument.Parse(await first.ChangeNodeJsonAsync(drained, "undrain")).RootElement.GetProperty("status").GetString());
        await RemoveAllAsync(first); // containers and QEMU outlive their daemon
    }

    /// <summary>Each online node's free memory and CPU, as its record holds them, are its capacity less its assignments.</summary>
    private static async Task AssertFreeFollowsAssignmentsAsync(StrataClient client, ClusterHarness h)
    {
        foreach (var n in Nodes(client).Where(n => n.GetProperty("status").GetString() != "offline"))
        {
            var name = n.GetProperty("name").GetString()!;
            long memory = 0, cpu = 0;
            foreach (var kv in (await h.Client.GetPrefixAsync(ClusterKeys.AssignmentsOf(name))).Kvs)
            {
                var a = ClusterCodec.Decode(kv, ClusterJson.Default.Assignment);
                memory += a.Resources.MemoryBytes;
                cpu += a.Resources.CpuMillis;
            }
            var capacity = n.GetProperty("capacity");
            var free = n.GetProperty("free");
            Assert.True(capacity.GetProperty("memoryBytes").GetInt64() - memory == free.GetProperty("memoryBytes").GetInt64(),
                $"node {name}: free memory {free.GetProperty("memoryBytes").GetInt64()} is not its capacity {capacity.GetProperty("memoryBytes").GetInt64()} less its assignments' {memory}");
            Assert.Equal(capacity.GetProperty("cpuMillis").GetInt64() - cpu, free.GetProperty("cpuMillis").GetInt64());
        }
    }

    /// <summary>The instance's output so far; empty while its node has not created it yet (the agent runs it a moment after the create).</summary>
    private static async Task<string> LogsAsync(StrataClient client, string name)
    {
        var text = new StringBuilder();
        try
        {
            await foreach (var frame in client.LogsAsync(name))
            {
                text.Append(frame.Log?.Text);
            }
        }
        catch (StrataApiException e) when (e.Kind is ErrorKind.NotFound or ErrorKind.Conflict)
        {
            return "";
        }
        return text.ToString();
    }

    private static List<int> Ticks(string log) =>
        [.. TickLine().Matches(log).Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture))];

    private static int LastTick(string log) => Ticks(log) is { Count: > 0 } t ? t[^1] : 0;

    [GeneratedRegex(@"tick (\d+)")]
    private static partial Regex TickLine();

    /// <summary>The QEMU processes whose command line names a path under <paramref name="root"/> (a node's data root).</summary>
    private static List<int> QemuPids(string root)
    {
        var pids = new List<int>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline"));
                if (cmdline.Contains("qemu-system", StringComparison.Ordinal) && cmdline.Contains(root + "/", StringComparison.Ordinal))
                {
                    pids.Add(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return pids;
    }
}
