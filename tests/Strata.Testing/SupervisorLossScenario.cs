using System.Diagnostics;
using Strata.Client;
using Strata.Contracts;
using Strata.Node;
using Strata.Node.Supervision;
using Xunit;

namespace Strata.Testing;

/// <summary>
/// A supervisor killed with SIGKILL while its workload runs, for one supervised tier through the published stratad on a
/// node of its own (its own cgroup parent, bridges and taps): once with the daemon up — the state says what is true
/// within a second, with no exit code made up — and once with the daemon down at that moment — the next daemon
/// reconciles it. After each, <c>rm -f</c> leaves no process, mount, tap, cgroup or QEMU. A workload that can joins a
/// network of the test's own, so sandboxes and VMs have a tap to leave behind; no process is left in a cgroup of the
/// instance, also none that left the workload's process group.
/// </summary>
public sealed class SupervisorLossScenario : IDisposable
{
    private readonly TempDirectory _dir = new("strata-lost");
    private readonly NodeScope _node = new("lost" + string.Concat(Enumerable.Range(0, 6).Select(_ => (char)('a' + Random.Shared.Next(26)))));
    private readonly IReadOnlyList<string> _arguments;
    private readonly IReadOnlyDictionary<string, string> _environment;
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _daemonLog = new();
    private Process? _daemon;
    private StrataClient? _client;

    /// <param name="arguments">What the tier needs besides the root, socket and node (<c>--image</c>, <c>--supervisor</c>).</param>
    /// <param name="environment">Variables for stratad (<c>STRATA_SANDBOX_ACCEL</c>).</param>
    public SupervisorLossScenario(IEnumerable<string>? arguments = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        // Its parent is open (as /var/lib is): only the data root's own modes may keep another user out.
        File.SetUnixFileMode(_dir.Path, (UnixFileMode)0b111_101_101);
        _arguments = [.. (string[])["--root", Root, "--socket", Socket, "--node", _node.Name], .. arguments ?? []];
        _environment = environment ?? new Dictionary<string, string>();
    }

    public string Root => _dir.Combine("root");

    private string Socket => _dir.Combine("s.sock");

    /// <summary>The network the workloads join.</summary>
    public const string Network = "lostnet";

    /// <summary>Skips (fails under CI) unless bridge networks work here (root, the CNI plugins, iptables).</summary>
    public static void RequireNetworks()
    {
        using var probe = new TempDirectory("strata-lostnet");
        using var networks = new Strata.Node.Networking.NetworkRegistry(new Strata.Node.Networking.NetworkOptions { StateDirectory = probe.Combine("networks") });
        TestEnvironment.Require(networks.MissingReason() is null, $"networks: {networks.MissingReason()}");
    }

    /// <summary>
    /// Another local user (made for the check and removed) can list, read, write or run nothing under the data root:
    /// the instance's disks, overlay, configuration and output included.
    /// </summary>
    public Task AnotherUserReachesNothing()
    {
        using var user = UnprivilegedUser.Create();
        var census = UnprivilegedUser.Census(Root);
        Assert.Contains(census, p => p.Contains("/instances/", StringComparison.Ordinal));
        Assert.Equal(["s " + Root], user.Reachable([Root])); // seen in its open parent, but closed
        Assert.Empty(user.Reachable(census));
        return Task.CompletedTask;
    }

    private StrataClient Client => _client ?? throw new InvalidOperationException("the daemon is not started");

    /// <summary>
    /// Runs both cases with instances made by <paramref name="spec"/> (given the name; it must run until stopped, and
    /// join <see cref="Network"/> where its tier has networks). <paramref name="prepare"/> runs once the daemon is up
    /// (e.g. build a base image); <paramref name="whileRunning"/> runs while the first instance runs, before its
    /// supervisor is killed. <paramref name="detached"/>, given an instance while it runs (each case), finds the
    /// processes its workload moved out of its process group: there must be one, and none may outlive the loss.
    /// </summary>
    public async Task RunAsync(Func<string, InstanceSpec> spec, Func<StrataClient, Task>? prepare = null, Func<InstanceInfo, Task>? whileRunning = null,
        Func<InstanceInfo, Task<IReadOnlyList<int>>>? detached = null)
    {
        await StartDaemonAsync();
        try
        {
            if (prepare is not null)
            {
                await prepare(Client);
            }
            var networked = spec("lost-up").Network == Network;
            if (networked)
            {
                await Client.CreateNetworkAsync(new CreateNetworkRequest { Name = Network });
            }

            // The daemon is up when the supervisor dies.
            var up = await CreateRunningAsync(spec("lost-up"));
            if (whileRunning is not null)
            {
                await whileRunning(up);
            }
            var upDetached = await DetachedAsync(detached, up);
            var clock = Stopwatch.StartNew();
            double? ended = null; // when the workload's process was seen gone, for the message
            var (info, noticed) = await ProcessCensus.KillAndWatchAsync(SupervisorOf(up), () =>
            {
                ended ??= ProcessCensus.Alive(up.Pid!.Value) ? null : clock.Elapsed.TotalMilliseconds;
                return Client.GetAsync(up.Name);
            }, i => i.State != "running");
            AssertLostAndStopped(info, up, upDetached);
            Assert.True(noticed <= TimeSpan.FromSeconds(1),
                $"the state changed {noticed.TotalMilliseconds:0} ms after the supervisor was killed (at most 1 s); its process {up.Pid} was seen gone after {ended:0} ms; load {File.ReadAllText("/proc/loadavg").Trim()}; the daemon said: {string.Join(" | ", _daemonLog.Where(l => l.Contains(up.Id, StringComparison.Ordinal)))}");
            await RemoveAndAssertNothingLeftAsync(up);

            // The daemon is down when the supervisor dies: the workload runs on, orphaned, until the next daemon acts.
            var down = await CreateRunningAsync(spec("lost-down"));
            var downDetached = await DetachedAsync(detached, down);
            var supervisor = SupervisorOf(down);
            await StopDaemonAsync();
            Assert.True(Signals.Send(supervisor, Signals.SIGKILL));
            Assert.True(await TestEnvironment.EventuallyAsync(() => !ProcessCensus.Alive(supervisor), TimeSpan.FromSeconds(10)), "the supervisor did not end");
            Assert.True(ProcessCensus.Alive(down.Pid!.Value), "the workload should outlive its supervisor until a daemon acts");

            await StartDaemonAsync();
            AssertLostAndStopped(await Client.GetAsync(down.Name), down, downDetached);
            await RemoveAndAssertNothingLeftAsync(down);
            if (networked)
            {
                await Client.RemoveNetworkAsync(Network);
            }
            Assert.Empty(Directory.GetFileSystemEntries("/sys/class/net", _node.BridgePrefix + "*"));
        }
        finally
        {
            await CleanUpAsync();
        }
    }

    private async Task<InstanceInfo> CreateRunningAsync(InstanceSpec spec)
    {
        var info = await Client.CreateAsync(spec);
        Assert.Equal("running", info.State);
        Assert.NotNull(info.Pid);
        return info;
    }

    /// <summary>The instance's strata-supervisor: the parent of its recorded process (the workload, runc, QEMU).</summary>
    private static int SupervisorOf(InstanceInfo info)
    {
        var supervisor = ProcessCensus.ParentOf(info.Pid!.Value);
        var commandLine = File.ReadAllText($"/proc/{supervisor}/cmdline");
        Assert.True(commandLine.Contains("strata-supervisor", StringComparison.Ordinal), $"the parent of {info.Name}'s process {info.Pid} is '{commandLine.Replace('\0', ' ')}'");
        return supervisor;
    }

    private static async Task<IReadOnlyList<int>> DetachedAsync(Func<InstanceInfo, Task<IReadOnlyList<int>>>? detached, InstanceInfo info)
    {
        if (detached is null)
        {
            return [];
        }
        var found = await detached(info);
        Assert.True(found.Count > 0, $"{info.Name}'s workload has no process outside its process group {info.Pid}: the check would prove nothing");
        return found;
    }

    private static void AssertLostAndStopped(InstanceInfo info, InstanceInfo before, IReadOnlyList<int> detached)
    {
        Assert.Equal("failed", info.State);
        Assert.Equal(SupervisedRuntime.LostAndStopped, info.Reason);
        Assert.Null(info.ExitCode);
        Assert.False(ProcessCensus.Alive(before.Pid!.Value), $"{before.Name} is recorded stopped while its process {before.Pid} still runs");
        Assert.False(ProcessCensus.GroupAlive(before.Pid!.Value), $"a process of {before.Name}'s group {before.Pid} still runs");
        Assert.DoesNotContain(detached, ProcessCensus.Alive);
        Assert.Empty(ProcessCensus.InCgroupOf(before.Id));
    }

    /// <summary><c>rm -f</c>, then nothing of the instance is left on the host.</summary>
    private async Task RemoveAndAssertNothingLeftAsync(InstanceInfo info)
    {
        await Client.DeleteAsync(info.Name, force: true);
        Assert.DoesNotContain((await Client.ListAsync()).Items, i => i.Id == info.Id);
        var directory = Path.Combine(Root, "instances", info.Id);
        Assert.False(Directory.Exists(directory), $"{directory} is left");
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(directory, StringComparison.Ordinal));
        Assert.DoesNotContain(ProcessCensus.Naming(info.Id), p => p.Pid != Environment.ProcessId);
        Assert.Empty(Directory.GetFileSystemEntries("/sys/class/net", _node.TapPrefix + "*"));
        var cgroups = Directory.GetDirectories("/sys/fs/cgroup").Append("/sys/fs/cgroup").Select(h => Path.Combine(h, _node.CgroupParent, info.Id));
        Assert.DoesNotContain(cgroups, Directory.Exists);
    }

    private async Task StartDaemonAsync()
    {
        _daemon = await PublishedDaemon.StartAsync(Socket, _arguments, _environment, line =>
        {
            if (_daemonLog.Count < 10_000)
            {
                _daemonLog.Enqueue(line);
            }
        });
        _client?.Dispose();
        _client = new StrataClient(new ClientOptions { Socket = Socket });
    }

    private async Task StopDaemonAsync()
    {
        await PublishedDaemon.KillAsync(_daemon!);
        _daemon = null;
    }

    private async Task CleanUpAsync()
    {
        try
        {
            if (_daemon is not null && _client is not null)
            {
                foreach (var instance in (await _client.ListAsync()).Items)
                {
                    await _client.DeleteAsync(instance.Name, force: true);
                }
                if ((await _client.ListNetworksAsync()).Items.Any(n => n.Name == Network))
                {
                    await _client.RemoveNetworkAsync(Network);
                }
            }
        }
        finally
        {
            _client?.Dispose();
            _client = null;
            if (_daemon is not null)
            {
                await PublishedDaemon.KillAsync(_daemon);
                _daemon = null;
            }
        }
    }

    public void Dispose()
    {
        // The node's parent cgroup in each hierarchy (its instances' cgroups are gone with them).
        Strata.Node.Cgroups.CgroupSet.RemoveParentIfEmpty(_node.CgroupParent);
        _dir.Dispose();
    }
}
