using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Drivers.Process;
using Strata.Node.Logs;
using Strata.Testing;

namespace Strata.Node.Tests.Drivers;

public sealed class ProcessDriverConformanceTests : DriverConformanceTests
{
    protected override IDriver CreateDriver() => new ProcessDriver(new ProcessDriverOptions
    {
        Supervisor = TestPaths.Supervisor ?? "/nonexistent/strata-supervisor",
        LogMaxBytes = 1024 * 1024,
    });

    protected override void RequireEngine() =>
        TestEnvironment.Require(TestPaths.Supervisor is not null, "strata-supervisor is not built; run scripts/publish-native.sh");

    protected override InstanceSpec EchoAndExit(string text, int exitCode) =>
        new() { Args = ["sh", "-c", $"echo {text}; exit {exitCode}"] };

    protected override bool Supervised => true;

    protected override InstanceSpec LongRunning() => new() { Args = ["sleep", "600"] };

    protected override InstanceSpec InvalidForThisTier() => new() { Image = "busybox", Args = ["true"] };
}

/// <summary>Behaviour of the process tier beyond the shared contract.</summary>
public sealed class ProcessDriverTests : IDisposable
{
    private readonly TempDirectory _temp = new("strata-proc");
    private readonly ProcessDriver _driver = new(new ProcessDriverOptions { Supervisor = TestPaths.Supervisor, LogMaxBytes = 1024 * 1024 });
    private readonly List<DriverHandle> _handles = [];

    private async Task<DriverHandle> StartAsync(InstanceSpec spec)
    {
        TestEnvironment.Require(TestPaths.Supervisor is not null, "strata-supervisor is not built; run scripts/publish-native.sh");
        var id = Guid.NewGuid().ToString("N");
        var dir = _temp.Combine(id);
        Directory.CreateDirectory(dir);
        var handle = await _driver.CreateAsync(new CreateRequest { InstanceId = id, Name = "p-" + id[..6], Project = "default", Directory = dir, Spec = spec with { Name = "p-" + id[..6] } }, CancellationToken.None);
        _handles.Add(handle);
        handle = await _driver.StartAsync(handle, CancellationToken.None);
        _handles.Add(handle);
        return handle;
    }

    /// <summary>Every instance has a cgroup to track its processes where the host lets one be made (root, a pids or v2 hierarchy).</summary>
    private static bool Tracked => TestEnvironment.IsRoot && (Directory.Exists("/sys/fs/cgroup/pids") || File.Exists("/sys/fs/cgroup/cgroup.controllers"));

    /// <summary>A workload that starts <c>setsid sleep</c> (out of its process group and session) and prints its PID.</summary>
    private static InstanceSpec LeavesItsGroup(string then) => new() { Args = ["sh", "-c", $"setsid sleep 600 & echo $!; {then}"] };

    private static async Task<int> DetachedPidAsync(DriverHandle handle)
    {
        string? line = null;
        Assert.True(await TestEnvironment.EventuallyAsync(() => (line = CriLogReader.ReadTail(LogFiles.LogDirectory(handle.Directory), null).Select(r => r.Text).FirstOrDefault()) is not null,
            TimeSpan.FromSeconds(10)), "the workload printed no PID");
        var pid = int.Parse(line!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(await TestEnvironment.EventuallyAsync(() => ProcessCensus.Alive(pid) && File.ReadAllText($"/proc/{pid}/cmdline").StartsWith("sleep", StringComparison.Ordinal), TimeSpan.FromSeconds(10)),
            $"process {pid} is not the detached sleep");
        Assert.NotEqual(handle.Pid, ProcessCensus.GroupOf(pid));
        return pid;
    }

    [SkippableFact]
    public async Task Exit_AProcessThatLeftTheGroup_EndsWithTheWorkload()
    {
        TestEnvironment.Require(Tracked, "needs root and a pids cgroup controller");
        var handle = await StartAsync(LeavesItsGroup("sleep 0.5"));
        var detached = await DetachedPidAsync(handle);
        var exit = await WaitAsync(handle);
        Assert.Equal(0, exit.ExitCode);
        Assert.False(ProcessCensus.Alive(detached), $"the detached sleep {detached} outlived the workload");
    }

    [SkippableFact]
    public async Task StopThenRemove_AProcessThatLeftTheGroup_IsStoppedAndItsCgroupRemoved()
    {
        TestEnvironment.Require(Tracked, "needs root and a pids cgroup controller");
        var handle = await StartAsync(LeavesItsGroup("exec sleep 600"));
        var detached = await DetachedPidAsync(handle);
        var cgroups = handle.Data["cgroups"].Split('\n');
        Assert.Contains(cgroups, d => File.ReadAllLines(Path.Combine(d, "cgroup.procs")).Contains(detached.ToString(System.Globalization.CultureInfo.InvariantCulture)));

        await _driver.StopAsync(handle, TimeSpan.FromSeconds(5), CancellationToken.None);
        await WaitAsync(handle);
        Assert.False(ProcessCensus.Alive(detached), $"the detached sleep {detached} outlived the stop");
        await _driver.DeleteAsync(handle, CancellationToken.None);
        Assert.DoesNotContain(cgroups, Directory.Exists);
    }

    private async Task<ExitStatus> WaitAsync(DriverHandle handle)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        return await _driver.WaitAsync(handle, cts.Token);
    }

    [SkippableFact]
    public async Task Create_UnknownCommand_IsRefusedNamingTheCommand()
    {
        TestEnvironment.Require(TestPaths.Supervisor is not null, "strata-supervisor is not built");
        var dir = _temp.Combine("nocmd");
        Directory.CreateDirectory(dir);
        var e = await Assert.ThrowsAsync<StrataException>(() => _driver.CreateAsync(new CreateRequest
        {
            InstanceId = "nocmd", Name = "nocmd", Project = "default", Directory = dir,
            Spec = new InstanceSpec { Name = "nocmd", Args = ["definitely-not-a-command-xyz"] },
        }, CancellationToken.None));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Equal("command", e.Field);
        Assert.Contains("definitely-not-a-command-xyz", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_Logged_NamesInstanceAndCommand()
    {
        var log = new RecordingLogger<ProcessDriver>();
        using var driver = new ProcessDriver(new ProcessDriverOptions { Supervisor = "/nonexistent/strata-supervisor" }, log);
        var dir = _temp.Combine("logged");
        Directory.CreateDirectory(dir);

        var id = "id-logged-" + Guid.NewGuid().ToString("N")[..8];
        var handle = await driver.CreateAsync(new CreateRequest
        {
            InstanceId = id, Name = "logged", Project = "default", Directory = dir,
            Spec = new InstanceSpec { Name = "logged", Args = ["/bin/sh", "-c", "true"] },
        }, CancellationToken.None);
        await driver.DeleteAsync(handle, CancellationToken.None);

        var line = Assert.Single(log.WithId(3201));
        Assert.Equal($"process logged ({id}) created: runs /bin/sh on the host; own cgroups: {Tracked}", line.Message);
    }

    [SkippableFact]
    public async Task Start_EnvAndWorkdir_ReachTheWorkload()
    {
        var handle = await StartAsync(new InstanceSpec
        {
            Args = ["sh", "-c", "echo $FOO; pwd"],
            Env = new Dictionary<string, string> { ["FOO"] = "bar" },
            WorkingDir = "/tmp",
        });
        await WaitAsync(handle);
        var lines = CriLogReader.ReadTail(LogFiles.LogDirectory(handle.Directory), null).Select(r => r.Text).ToList();
        Assert.Equal(["bar", "/tmp"], lines);
    }

    [SkippableFact]
    public async Task Start_MemoryLimit_OomKillIsReported()
    {
        TestEnvironment.Require(TestEnvironment.IsRoot && Directory.Exists("/sys/fs/cgroup/memory") || File.Exists("/sys/fs/cgroup/cgroup.controllers"), "needs root and a memory cgroup controller");
        var handle = await StartAsync(new InstanceSpec
        {
            // Holds 64 MiB in a shell variable under a 16 MiB limit.
            Args = ["sh", "-c", "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo ${#x}"],
            Resources = new ResourceSpec { MemoryBytes = 16 * 1024 * 1024 },
        });
        var exit = await WaitAsync(handle);
        Assert.True(exit.OomKilled, $"expected an OOM kill, got exit {exit.ExitCode} ({exit.Reason})");
        await _driver.DeleteAsync(handle, CancellationToken.None);
        Assert.False(Directory.Exists($"/sys/fs/cgroup/memory/strata/{Path.GetFileName(handle.Directory)}"));
    }

    [SkippableFact]
    public async Task Start_PidsLimit_ForkBombIsContained()
    {
        TestEnvironment.Require(TestEnvironment.IsRoot && (Directory.Exists("/sys/fs/cgroup/pids") || File.Exists("/sys/fs/cgroup/cgroup.controllers")), "needs root and a pids cgroup controller");
        var handle = await StartAsync(new InstanceSpec
        {
            // Tries to start 200 sleepers; the limit of 16 tasks stops the shell with "can't fork".
            Args = ["sh", "-c", "for i in $(seq 200); do sleep 30 & done; echo all-started"],
            Resources = new ResourceSpec { Pids = 16 },
        });
        var exit = await WaitAsync(handle);
        var text = string.Join('\n', CriLogReader.ReadTail(LogFiles.LogDirectory(handle.Directory), null).Select(r => r.Text));
        Assert.Contains("fork", text, StringComparison.OrdinalIgnoreCase); // "can't fork": the limit held
        Assert.DoesNotContain("all-started", text, StringComparison.Ordinal);
        Assert.NotEqual(0, exit.ExitCode);
        await _driver.DeleteAsync(handle, CancellationToken.None);
    }

    private static bool CgroupV1Limits => TestEnvironment.IsRoot && Directory.Exists("/sys/fs/cgroup/memory") && Directory.Exists("/sys/fs/cgroup/cpu") && !File.Exists("/sys/fs/cgroup/cgroup.controllers");

    private static long ReadCgroup(string controller, DriverHandle handle, string file) =>
        long.Parse(File.ReadAllText($"/sys/fs/cgroup/{controller}/strata/{handle.InstanceId}/{file}").Trim(), System.Globalization.CultureInfo.InvariantCulture);

    [SkippableFact]
    public async Task Resize_RunningProcess_ChangesItsCgroupLimitsInPlace_AndItsSpecKeepsThem()
    {
        TestEnvironment.Require(CgroupV1Limits, "needs root and cgroup v1 memory and cpu hierarchies");
        const long Mib = 1024 * 1024;
        // Holds 24 MiB in a shell variable under 64 MiB, then waits.
        var handle = await StartAsync(new InstanceSpec
        {
            Args = ["sh", "-c", "x=$(head -c 25165824 /dev/zero | tr '\\0' a); echo held; sleep 600; true"],
            Resources = new ResourceSpec { MemoryBytes = 64 * Mib, Cpus = 1 },
        });
        Assert.True(await TestEnvironment.EventuallyAsync(() => CriLogReader.ReadTail(LogFiles.LogDirectory(handle.Directory), null).Any(r => r.Text == "held"), TimeSpan.FromSeconds(20)));

        var result = await _driver.ResizeAsync(handle, 96 * Mib, 2, CancellationToken.None);
        Assert.True(result.Kept);
        Assert.Equal((96 * Mib, 2), (result.MemoryBytes, result.Cpus));
        Assert.Equal(96 * Mib, ReadCgroup("memory", handle, "memory.limit_in_bytes"));
        Assert.Equal(200_000, ReadCgroup("cpu", handle, "cpu.cfs_quota_us"));
        var spec = System.Text.Json.JsonSerializer.Deserialize(File.ReadAllText(Path.Combine(handle.Directory, "spec.json")), StrataJsonContext.Default.InstanceSpec)!;
        Assert.Equal((96 * Mib, 2.0), (spec.Resources!.MemoryBytes, spec.Resources.Cpus)); // every later start reads it

        // A fraction of a core: a quarter is 25 ms of each 100 ms period, kept in the spec; below a hundredth is refused.
        var quarter = await _driver.ResizeAsync(handle, null, 0.25, CancellationToken.None);
        Assert.Equal(0.25, quarter.Cpus, 6);
        Assert.Equal(25_000, ReadCgroup("cpu", handle, "cpu.cfs_quota_us"));
        spec = System.Text.Json.JsonSerializer.Deserialize(File.ReadAllText(Path.Combine(handle.Directory, "spec.json")), StrataJsonContext.Default.InstanceSpec)!;
        Assert.Equal(0.25, spec.Resources!.Cpus);
        var tiny = await Assert.ThrowsAsync<StrataException>(() => _driver.ResizeAsync(handle, null, 0.001, CancellationToken.None));
        Assert.Equal(("cpus", ErrorKind.InvalidArgument), (tiny.Field, tiny.Kind));
        Assert.Contains("give 0.01 to", tiny.Message, StringComparison.Ordinal);
        Assert.Equal(25_000, ReadCgroup("cpu", handle, "cpu.cfs_quota_us"));

        // Below what it holds (no swap to push it to): refused, and the limit stays.
        var e = await Assert.ThrowsAsync<StrataException>(() => _driver.ResizeAsync(handle, 8 * Mib, null, CancellationToken.None));
        Assert.Equal(ErrorKind.Conflict, e.Kind);
        Assert.Contains("give a larger limit", e.Message, StringComparison.Ordinal);
        Assert.Equal(96 * Mib, ReadCgroup("memory", handle, "memory.limit_in_bytes"));
        await _driver.KillAsync(handle, 9, CancellationToken.None);
    }

    [SkippableFact]
    public async Task StatsAndTop_RunningProcess_ShowItsCpuOverTheWindow_ItsMemoryLimit_AndItsProcesses()
    {
        TestEnvironment.Require(CgroupV1Limits, "needs root and cgroup v1 memory and cpu hierarchies");
        const long Mib = 1024 * 1024;
        var handle = await StartAsync(new InstanceSpec
        {
            Args = ["sh", "-c", "while :; do :; done & echo busy; wait"],
            Resources = new ResourceSpec { MemoryBytes = 64 * Mib },
        });
        Assert.True(await TestEnvironment.EventuallyAsync(() => CriLogReader.ReadTail(LogFiles.LogDirectory(handle.Directory), null).Any(r => r.Text == "busy"), TimeSpan.FromSeconds(20)));

        // CPU time grows however loaded the host is: wait for it, not for a share of a core.
        InstanceStats? stats = null;
        Assert.True(await TestEnvironment.EventuallyAsync(async () => (stats = await _driver.StatsAsync(handle, CancellationToken.None)).CpuNanoseconds > 0, TimeSpan.FromSeconds(30)),
            "the busy loop used no CPU time");
        Assert.Equal(handle.InstanceId, stats!.Name);
        Assert.True(stats.SampleMilliseconds >= 200, $"the two readings were {stats.SampleMilliseconds} ms apart");
        Assert.True(stats.CpuPercent >= 0);
        Assert.Equal(64 * Mib, stats.MemoryLimitBytes);
        Assert.True(stats.MemoryBytes > 0);
        Assert.True(stats.Pids >= 2, $"{stats.Pids} processes: the shell and its loop were expected");

        var top = await _driver.TopAsync(handle, CancellationToken.None);
        Assert.Contains(top, p => p.Pid == handle.Pid);
        Assert.Contains(top, p => p.ParentPid == handle.Pid);
        await _driver.KillAsync(handle, 9, CancellationToken.None);
    }

    [SkippableFact]
    public async Task Resize_ProcessCreatedWithoutThatLimit_IsRefusedWithTheWayOut()
    {
        TestEnvironment.Require(CgroupV1Limits, "needs root and cgroup v1 (on v2 every controller is in the instance's one cgroup)");
        var handle = await StartAsync(new InstanceSpec { Args = ["sleep", "600"] });
        var e = await Assert.ThrowsAsync<StrataException>(() => _driver.ResizeAsync(handle, 64 * 1024 * 1024, null, CancellationToken.None));
        Assert.Equal(("memoryBytes", ErrorKind.InvalidArgument), (e.Field, e.Kind));
        Assert.Contains("recreate it with --memory", e.Message, StringComparison.Ordinal);
        Assert.Equal("cpus", (await Assert.ThrowsAsync<StrataException>(() => _driver.ResizeAsync(handle, null, 1, CancellationToken.None))).Field);
        await _driver.KillAsync(handle, 9, CancellationToken.None);
    }

    public void Dispose()
    {
        foreach (var handle in Enumerable.Reverse(_handles))
        {
            _driver.DeleteAsync(handle, CancellationToken.None).GetAwaiter().GetResult(); // its cgroup too
        }
        _driver.Dispose();
        _temp.Dispose();
    }
}
