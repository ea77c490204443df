using System.Text;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Drivers.Sandbox;
using Strata.Testing;

namespace Strata.Sandbox.Tests;

/// <summary>The sandbox tier's own promises: guest kernel, container semantics, isolation, exec, restarts.</summary>
public sealed partial class SandboxDriverTests : IDisposable
{
    private static readonly TimeSpan BootBudget = TimeSpan.FromSeconds(120);
    private readonly TempDirectory _temp = new("strata-sb");
    private readonly List<(IDriver Driver, DriverHandle Handle)> _started = [];
    private readonly SandboxDriver _driver = SandboxTestHost.CreateAppDriver();

    private async Task<DriverHandle> RunAsync(InstanceSpec spec, SandboxDriver? driver = null)
    {
        driver ??= _driver;
        var handle = await SandboxTestHost.CreateAsync(driver, _temp, spec with { Tier = "sandbox", Image = spec.Image ?? "busybox" });
        handle = await driver.StartAsync(handle, CancellationToken.None);
        _started.Add((driver, handle));
        return handle;
    }

    private async Task<ExitStatus> WaitAsync(DriverHandle handle)
    {
        using var cts = new CancellationTokenSource(BootBudget);
        return await _driver.WaitAsync(handle, cts.Token);
    }

    private static string HostKernelRelease() => File.ReadAllText("/proc/sys/kernel/osrelease").Trim();

    [SkippableFact]
    public async Task Run_ShellWithEnvAndStderr_GuestKernelSeparateStreamsExitCode()
    {
        SandboxTestHost.RequireEngine();
        var handle = await RunAsync(new InstanceSpec
        {
            Env = new Dictionary<string, string> { ["FOO"] = "bar" },
            Args = ["sh", "-c", "uname -r; echo $FOO; echo err >&2; exit 4"],
        });
        var exit = await WaitAsync(handle);

        Assert.Equal(4, exit.ExitCode);
        Assert.False(exit.Failed, exit.Reason);
        var stdout = SandboxTestHost.Stream(handle, "stdout").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, stdout.Length);
        Assert.NotEqual(HostKernelRelease(), stdout[0]);
        Assert.Matches(@"^\d+\.\d+", stdout[0]);
        Assert.Equal("bar", stdout[1]);
        Assert.Equal("err\n", SandboxTestHost.Stream(handle, "stderr"));
    }

    [SkippableFact]
    public async Task Run_InsideGuest_SeesNoHostProcessesOrFiles()
    {
        SandboxTestHost.RequireEngine();
        var canary = Path.Combine("/tmp", "strata-canary-" + Guid.NewGuid().ToString("N")[..8]);
        await File.WriteAllTextAsync(canary, "host secret");
        try
        {
            var hostPid = Environment.ProcessId;
            var handle = await RunAsync(new InstanceSpec
            {
                Args = ["sh", "-c", $"ps -o pid,comm; echo processes=$(ls -d /proc/[0-9]* | wc -l); cat {canary} && echo CANARY-VISIBLE; ls /proc/{hostPid}/ >/dev/null 2>&1 && echo HOST-PID-VISIBLE; exit 0"],
            });
            var exit = await WaitAsync(handle);
            Assert.Equal(0, exit.ExitCode);
            var stdout = SandboxTestHost.Stream(handle, "stdout");
            Assert.DoesNotContain("CANARY-VISIBLE", stdout, StringComparison.Ordinal);
            Assert.DoesNotContain("dotnet", stdout, StringComparison.Ordinal);
            Assert.DoesNotContain("qemu", stdout, StringComparison.Ordinal);
            Assert.DoesNotContain("strata-supervisor", stdout, StringComparison.Ordinal);
            // The guest has only its kernel threads, init and the workload: far fewer than this host.
            var guestCount = int.Parse(stdout.Split('\n').Single(l => l.StartsWith("processes=", StringComparison.Ordinal))["processes=".Length..]);
            var hostCount = Directory.GetDirectories("/proc").Count(d => char.IsAsciiDigit(Path.GetFileName(d)[0]));
            Assert.True(guestCount < hostCount, $"guest sees {guestCount} processes, host has {hostCount}");
        }
        finally
        {
            File.Delete(canary);
        }
    }

    [SkippableFact]
    public async Task Exec_RunningSandbox_StreamsBothOutputsAndReturnsTheExitCode()
    {
        SandboxTestHost.RequireEngine();
        var handle = await RunAsync(new InstanceSpec { Env = new Dictionary<string, string> { ["FOO"] = "from-spec" }, Args = ["sh", "-c", "echo ready; exec sleep 600"] });
        Assert.True(await TestEnvironment.EventuallyAsync(() => SandboxTestHost.Stream(handle, "stdout").Contains("ready", StringComparison.Ordinal), BootBudget),
            "the workload never printed 'ready'");

        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var code = await ExecAsync(handle, ["sh", "-c", "echo out-$FOO-$BAR; echo oops >&2; ps -o comm | grep -c sleep; exit 7"], stdout, stderr,
            new Dictionary<string, string> { ["BAR"] = "exec" });

        Assert.Equal(7, code);
        Assert.Equal("out-from-spec-exec\n1\n", stdout.ToString());
        Assert.Equal("oops\n", stderr.ToString());

        // A second exec on the same channel, with binary-safe output larger than one frame.
        var big = new StringBuilder();
        Assert.Equal(0, await ExecAsync(handle, ["sh", "-c", "seq 1 5000"], big, new StringBuilder()));
        Assert.Equal(string.Concat(Enumerable.Range(1, 5000).Select(i => i + "\n")), big.ToString());
    }

    private async Task<int> ExecAsync(DriverHandle handle, IReadOnlyList<string> command, StringBuilder stdout, StringBuilder stderr, IReadOnlyDictionary<string, string>? env = null, string? user = null)
    {
        using var cts = new CancellationTokenSource(BootBudget);
        return await _driver.ExecAsync(handle, new ExecRequest { Command = command, Env = env, User = user }, (stream, bytes) =>
        {
            (stream == "stdout" ? stdout : stderr).Append(Encoding.UTF8.GetString(bytes.Span));
            return ValueTask.CompletedTask;
        }, cts.Token);
    }

    [SkippableFact]
    public async Task Exec_StoppedSandbox_IsAConflict()
    {
        SandboxTestHost.RequireEngine();
        var handle = await RunAsync(new InstanceSpec { Args = ["true"] });
        await WaitAsync(handle);
        var e = await Assert.ThrowsAsync<StrataException>(() => _driver.ExecAsync(handle, new ExecRequest { Command = ["true"] }, (_, _) => ValueTask.CompletedTask, CancellationToken.None));
        Assert.Equal(ErrorKind.Conflict, e.Kind);
    }

    [SkippableFact]
    public async Task Recover_NewDriverObject_ExecStillWorksAndStopEndsIt()
    {
        SandboxTestHost.RequireEngine();
        var handle = await RunAsync(new InstanceSpec { Args = ["sleep", "600"] });
        using var restarted = SandboxTestHost.CreateDriver();
        Assert.Equal(WorkloadPhase.Running, (await restarted.RecoverAsync(handle, CancellationToken.None)).Phase);

        var stdout = new StringBuilder();
        using (var cts = new CancellationTokenSource(BootBudget))
        {
            Assert.Equal(0, await restarted.ExecAsync(handle, new ExecRequest { Command = ["echo", "after-restart"] }, (_, b) =>
            {
                stdout.Append(Encoding.UTF8.GetString(b.Span));
                return ValueTask.CompletedTask;
            }, cts.Token));
        }
        Assert.Equal("after-restart\n", stdout.ToString());

        await restarted.StopAsync(handle, TimeSpan.FromSeconds(5), CancellationToken.None);
        var exit = await WaitAsync(handle);
        Assert.Equal(143, exit.ExitCode);
        Assert.Equal(WorkloadPhase.Exited, (await SandboxTestHost.CreateDriver().RecoverAsync(handle, CancellationToken.None)).Phase);
    }

    [SkippableFact]
    public async Task Run_GrantedMounts_ReachTheGuestOnlyWhereGrantedAndReadOnlyHolds()
    {
        SandboxTestHost.RequireEngine();
        TestEnvironment.Require(Strata.Qemu.VirtioFsDaemon.Locate() is not null, "virtiofsd is not installed (apt-get install qemu-system-common)");
        var rw = _temp.Combine("rw dir");
        var ro = _temp.Combine("ro");
        Directory.CreateDirectory(rw);
        Directory.CreateDirectory(ro);
        await File.WriteAllTextAsync(Path.Combine(rw, "in.txt"), "from-host\n");
        await File.WriteAllTextAsync(Path.Combine(ro, "ro.txt"), "read-only-data\n");
        // Next to the granted directories, not granted: the guest must not reach it by any path.
        var secret = _temp.Combine("secret.txt");
        await File.WriteAllTextAsync(secret, "host secret");

        var handle = await RunAsync(new InstanceSpec
        {
            Mounts = [new MountSpec { Source = rw, Target = "/data" }, new MountSpec { Source = ro, Target = "/ro", ReadOnly = true }],
            Args = ["sh", "-c", string.Join("; ",
                "cat /data/in.txt /ro/ro.txt",
                "echo from-guest > /data/out.txt",
                "echo x > /ro/w 2>/dev/null && echo RO-WRITABLE",
                // Even a guest root that remounts read-write cannot write: the host's bind mount is read-only.
                "mount -o remount,rw /ro 2>/dev/null; grep -q '^m1 /ro virtiofs rw' /proc/mounts && echo REMOUNTED-RW",
                "echo y > /ro/w2 2>/dev/null && echo RO-HOST-WRITABLE",
                "cat /data/../secret.txt /ro/../secret.txt " + secret + " 2>/dev/null && echo SECRET-VISIBLE",
                "ls -a /data/.. | grep -q secret && echo SECRET-LISTED",
                "sync; exit 0")],
        });
        var exit = await WaitAsync(handle);

        var stdout = SandboxTestHost.Stream(handle, "stdout");
        Assert.True(exit.ExitCode == 0, $"exit {exit.ExitCode}: {exit.Reason}; stdout: {stdout}; stderr: {SandboxTestHost.Stream(handle, "stderr")}");
        Assert.StartsWith("from-host\nread-only-data\n", stdout, StringComparison.Ordinal);
        Assert.Equal("from-guest\n", await File.ReadAllTextAsync(Path.Combine(rw, "out.txt")));
        Assert.DoesNotContain("RO-WRITABLE", stdout, StringComparison.Ordinal);
        Assert.Contains("REMOUNTED-RW", stdout, StringComparison.Ordinal); // so the next line tests the host's enforcement
        Assert.DoesNotContain("RO-HOST-WRITABLE", stdout, StringComparison.Ordinal);
        Assert.Equal(["ro.txt"], Directory.GetFiles(ro).Select(Path.GetFileName));
        Assert.DoesNotContain("SECRET", stdout, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Stop_WorkloadTrapsTerm_GetsSigtermInsideTheGuestAndExitsWithItsCode()
    {
        SandboxTestHost.RequireEngine();
        var handle = await RunAsync(new InstanceSpec
        {
            Args = ["sh", "-c", "trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 1; done"],
        });
        Assert.True(await TestEnvironment.EventuallyAsync(() => SandboxTestHost.Stream(handle, "stdout").Contains("ready", StringComparison.Ordinal), BootBudget),
            "the workload never printed 'ready'");

        await _driver.StopAsync(handle, BootBudget, CancellationToken.None);
        var exit = await WaitAsync(handle);

        Assert.Equal("ready\ngot-term\n", SandboxTestHost.Stream(handle, "stdout"));
        Assert.Equal(3, exit.ExitCode);
        Assert.False(exit.Failed, exit.Reason);
    }

    [SkippableFact]
    public async Task Create_TwoSandboxesOfOneImage_ShareOneBaseDiskAndWriteOnlyTheirOverlay()
    {
        SandboxTestHost.RequireEngine();
        var a = await RunAsync(new InstanceSpec { Args = ["sh", "-c", "echo written > /etc/marker; sync"] });
        Assert.Equal(0, (await WaitAsync(a)).ExitCode);
        var b = await RunAsync(new InstanceSpec { Args = ["sh", "-c", "cat /etc/marker 2>/dev/null || echo absent"] });
        Assert.Equal(0, (await WaitAsync(b)).ExitCode);
        Assert.Equal("absent\n", SandboxTestHost.Stream(b, "stdout"));
        // One base disk for both (other tests' images have their own).
        var baseDisk = SandboxWorkload.Load(a.Directory).BaseDisk;
        Assert.Equal(baseDisk, SandboxWorkload.Load(b.Directory).BaseDisk);
        Assert.True(File.Exists(baseDisk), baseDisk);
    }

    public void Dispose()
    {
        foreach (var (driver, handle) in _started)
        {
            try
            {
                driver.KillAsync(handle, 9, CancellationToken.None).GetAwaiter().GetResult();
            }
            catch (Exception)
            {
                // best effort
            }
        }
        _driver.Dispose();
        _temp.Dispose();
    }
}
