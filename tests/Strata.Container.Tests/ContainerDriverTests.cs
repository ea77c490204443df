using System.Text;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Drivers.Container;

namespace Strata.Container.Tests;

[Collection(ContainerCollection.Name)]
public sealed class ContainerDriverTests(ContainerFixture fx)
{
    private static InstanceSpec Sh(string script) => new() { Args = ["sh", "-c", script] };

    [SkippableFact]
    public async Task Run_HostnameAndExitCode_AreTheInstancesOwn()
    {
        fx.RequireEngine();
        var (exit, output, _) = await fx.RunAsync("web-1", Sh("echo host=$(hostname) env=$HOSTNAME; exit 5"));
        Assert.True(exit.ExitCode == 5, $"exit {exit.ExitCode}: {output}");
        Assert.False(exit.OomKilled);
        Assert.Contains("host=web-1 env=web-1", output);
    }

    [SkippableFact]
    public async Task Run_ArgsOverrideCmd_CommandOverridesEntrypoint_EnvMerged()
    {
        fx.RequireEngine();
        var (exit, output, _) = await fx.RunAsync("args", new InstanceSpec
        {
            Command = ["/bin/echo", "entry"],
            Args = ["a", "b"],
            Env = new Dictionary<string, string> { ["FOO"] = "bar" },
        });
        Assert.Equal(0, exit.ExitCode);
        Assert.Contains("entry a b", output);

        var (exit2, output2, _) = await fx.RunAsync("env", new InstanceSpec
        {
            Args = ["sh", "-c", "echo foo=$FOO path=$PATH; pwd"],
            Env = new Dictionary<string, string> { ["FOO"] = "bar" },
            WorkingDir = "/tmp",
        });
        Assert.Equal(0, exit2.ExitCode);
        Assert.Contains("foo=bar path=" + BundleBuilder.DefaultPath, output2);
        Assert.Contains("/tmp", output2);
    }

    [SkippableFact]
    public async Task Run_OnATerminalOfAGivenSize_TheFirstInstructionSeesIt()
    {
        fx.RequireEngine();
        // Nobody resizes: only the size given at create (runc's process.consoleSize, the supervisor's terminal) is there.
        var (exit, output, _) = await fx.RunAsync("tty-size", new InstanceSpec
        {
            Args = ["stty", "size"], Tty = true, TerminalSize = new TerminalSize { Columns = 93, Rows = 29 },
        });
        Assert.True(exit.ExitCode == 0, $"exit {exit.ExitCode}: {output}");
        Assert.Equal("29 93", output.TrimEnd());
    }

    [SkippableFact]
    public async Task Run_NoArgs_UsesImageCmd()
    {
        fx.RequireEngine();
        // The default config's CMD is "sh": with stdin at EOF it exits 0 at once.
        var (exit, _, _) = await fx.RunAsync("default-cmd", new InstanceSpec());
        Assert.Equal(0, exit.ExitCode);
    }

    [SkippableFact]
    public async Task Run_MemoryLimitExceeded_Exit137OomKilled()
    {
        fx.RequireEngine();
        var (exit, _, _) = await fx.RunAsync("oom", Sh("x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo ${#x}") with
        {
            Resources = new ResourceSpec { MemoryBytes = 16 * 1024 * 1024 },
        });
        Assert.Equal(137, exit.ExitCode);
        Assert.True(exit.OomKilled);
        Assert.Equal("oom-killed", exit.Reason);
    }

    [SkippableFact]
    public async Task Run_ForkBombUnderPidsLimit_IsContained()
    {
        fx.RequireEngine();
        // A subshell forks until the limit refuses, and dies of it; init (a builtin-only tail) then clears up.
        // read and echo are shell builtins: they work with every PID taken.
        var (exit, output, _) = await fx.RunAsync("forkbomb",
            Sh("( while true; do sleep 30 & done ) 2>/dev/null; read max < /sys/fs/cgroup/pids/pids.max; read peak < /sys/fs/cgroup/pids/pids.peak; echo survived max=$max peak=$peak; kill -9 -1; exit 0") with
            {
                Resources = new ResourceSpec { Pids = 64 },
            }, TimeSpan.FromSeconds(120));
        Assert.True(exit.ExitCode == 0 && output.Contains("survived max=64 peak=64", StringComparison.Ordinal), $"exit {exit.ExitCode}: {output}");
    }

    [SkippableFact]
    public async Task Run_CpusAndCpuset_Applied()
    {
        fx.RequireEngine();
        var (exit, output, _) = await fx.RunAsync("cpu",
            Sh("grep Cpus_allowed_list /proc/self/status; cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu.max 2>/dev/null; true") with
            {
                Resources = new ResourceSpec { Cpus = 0.5, Cpuset = "0" },
            });
        Assert.Equal(0, exit.ExitCode);
        Assert.Contains("Cpus_allowed_list:\t0\n", output);
        Assert.Contains("50000", output);
    }

    [SkippableFact]
    public async Task Run_ReadOnlyRootfs_WriteFails()
    {
        fx.RequireEngine();
        var (exit, output, _) = await fx.RunAsync("ro", Sh("echo x > /probe && echo wrote; echo x > /dev/shm/ok && echo shm-ok") with
        {
            Security = new SecuritySpec { ReadOnlyRootfs = true },
        });
        Assert.Equal(0, exit.ExitCode);
        Assert.DoesNotContain("wrote", output);
        Assert.Contains("Read-only file system", output);
        Assert.Contains("shm-ok", output);
    }

    [SkippableFact]
    public async Task Run_Defaults_CapabilitiesReducedProcMaskedNoNewPrivs()
    {
        fx.RequireEngine();
        var (exit, output, _) = await fx.RunAsync("sec",
            Sh("grep -E 'CapEff|NoNewPrivs|Seccomp:' /proc/self/status; echo keys=$(stat -c %t:%T /proc/keys) acpi=$(ls /proc/acpi | wc -l); ip link show lo | head -1; mount -t tmpfs x /mnt 2>&1 || echo mount-denied"));
        Assert.Equal(0, exit.ExitCode);
        var capEff = output.Split('\n').First(l => l.StartsWith("CapEff:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1];
        var caps = Convert.ToUInt64(capEff, 16);
        Assert.Equal(11, System.Numerics.BitOperations.PopCount(caps)); // Podman's 11 defaults
        Assert.Equal(0UL, caps & (1UL << 21)); // no CAP_SYS_ADMIN
        Assert.Contains("NoNewPrivs:\t1", output);
        Assert.Contains("Seccomp:\t2", output);
        Assert.True(output.Contains("keys=1:3 acpi=0", StringComparison.Ordinal), output); // masked: /dev/null (1:3) over files, an empty tmpfs over directories
        Assert.Contains("LOOPBACK,UP", output);
        Assert.Contains("mount-denied", output);
    }

    [SkippableFact]
    public async Task Run_CapAddAndDrop_Applied()
    {
        fx.RequireEngine();
        var (_, output, _) = await fx.RunAsync("caps", Sh("grep CapEff /proc/self/status") with
        {
            Security = new SecuritySpec { CapDrop = ["ALL"], CapAdd = ["net_admin"] },
        });
        var caps = Convert.ToUInt64(output.Split('\t', StringSplitOptions.RemoveEmptyEntries)[^1].Trim(), 16);
        Assert.Equal(1UL << 12, caps); // only CAP_NET_ADMIN
    }

    [SkippableFact]
    public async Task Run_UserByName_RunsAsThatUser()
    {
        fx.RequireEngine();
        var (_, output, _) = await fx.RunAsync("user", Sh("id -u; id -g") with { Security = new SecuritySpec { User = "app" } });
        Assert.Equal("1000\n1000", output.Trim());
    }

    [SkippableFact]
    public async Task Run_HostFilesOutsideMounts_NotVisible_MountsAre()
    {
        fx.RequireEngine();
        var canaryDir = Directory.CreateTempSubdirectory("strata-canary-").FullName;
        var shared = Directory.CreateTempSubdirectory("strata-shared-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(canaryDir, "canary"), "secret");
            File.WriteAllText(Path.Combine(shared, "in"), "hello-from-host");
            var canary = Path.Combine(canaryDir, "canary");
            var (exit, output, _) = await fx.RunAsync("canary", Sh($"cat {canary} 2>&1; cat /data/in; echo x > /ro/x 2>&1 || echo ro-denied") with
            {
                Mounts = [new MountSpec { Source = shared, Target = "/data" }, new MountSpec { Source = shared, Target = "/ro", ReadOnly = true }],
            });
            Assert.Equal(0, exit.ExitCode);
            Assert.DoesNotContain("secret", output);
            Assert.Contains("No such file", output);
            Assert.Contains("hello-from-host", output);
            Assert.Contains("ro-denied", output);
            Assert.False(File.Exists(Path.Combine(shared, "x")));
        }
        finally
        {
            Directory.Delete(canaryDir, true);
            Directory.Delete(shared, true);
        }
    }

    [SkippableFact]
    public async Task Create_InvalidSettings_NameTheField()
    {
        fx.RequireEngine();
        var e = await Assert.ThrowsAsync<StrataException>(() => fx.CreateAsync("bad", new InstanceSpec { Image = "nope" }));
        Assert.Equal("image", e.Field);
        Assert.Contains("image 'nope' not found; pull or import it first (strata image ls)", e.Message);
        e = await Assert.ThrowsAsync<StrataException>(() => fx.CreateAsync("bad", new InstanceSpec { Network = "bridge" }));
        Assert.Equal("network", e.Field);
        e = await Assert.ThrowsAsync<StrataException>(() => fx.CreateAsync("bad", new InstanceSpec { Security = new SecuritySpec { CapAdd = ["FLY"] } }));
        Assert.Equal("security.capAdd", e.Field);
        e = await Assert.ThrowsAsync<StrataException>(() => fx.CreateAsync("bad", new InstanceSpec { Resources = new ResourceSpec { Cpuset = "0-999" } }));
        Assert.Equal("resources.cpuset", e.Field);
        e = await Assert.ThrowsAsync<StrataException>(() => fx.CreateAsync("bad", new InstanceSpec { Security = new SecuritySpec { Devices = ["/etc/passwd"] } }));
        Assert.Equal("security.devices[0]", e.Field);
    }

    [SkippableFact]
    public async Task Device_Null_IsUsable()
    {
        fx.RequireEngine();
        var (exit, output, _) = await fx.RunAsync("dev", Sh("echo hi > /dev/mynull && echo dev-ok") with
        {
            Security = new SecuritySpec { Devices = ["/dev/null:/dev/mynull"] },
        });
        Assert.Equal(0, exit.ExitCode);
        Assert.Contains("dev-ok", output);
    }

    [SkippableFact]
    public async Task Recover_AfterDaemonRestart_StillRunning_ExecAndStopWork()
    {
        fx.RequireEngine();
        var handle = await fx.CreateAsync("long", Sh("trap 'exit 0' TERM; echo ready; while true; do sleep 0.1; done"));
        handle = await fx.Driver.StartAsync(handle, CancellationToken.None);

        // A "restarted daemon": a new driver instance that knows only the persisted handle.
        using var second = fx.NewDriver();
        Assert.True((await second.FingerprintAsync(CancellationToken.None)).Available);
        var status = await second.RecoverAsync(handle, CancellationToken.None);
        Assert.Equal(WorkloadPhase.Running, status.Phase);

        var output = new StringBuilder();
        var code = await ExecWhenRunningAsync(second, handle, new ExecRequest { Command = ["sh", "-c", "echo out; echo err >&2; hostname; exit 3"] }, output);
        Assert.Equal(3, code);
        Assert.Contains("out", output.ToString());
        Assert.Contains("err", output.ToString());
        Assert.Contains("long", output.ToString());

        var top = await second.TopAsync(handle, CancellationToken.None);
        Assert.Contains(top, p => p.Command.Contains("sh -c", StringComparison.Ordinal));
        var stats = await second.StatsAsync(handle, CancellationToken.None);
        Assert.True(stats.MemoryBytes > 0);
        Assert.True(stats.Pids >= 1);
        Assert.Equal(BundleBuilder.DefaultPidsLimit, stats.PidsLimit);

        await second.StopAsync(handle, TimeSpan.FromSeconds(10), CancellationToken.None);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var exit = await second.WaitAsync(handle, cts.Token);
        Assert.Equal(0, exit.ExitCode); // the trap ran: SIGTERM reached the container's init
        await second.DeleteAsync(handle, CancellationToken.None);
        Assert.False(Directory.Exists(Path.Combine("/sys/fs/cgroup/pids/strata", handle.InstanceId)));
    }

    [SkippableFact]
    public async Task Exec_NotRunning_Conflict()
    {
        fx.RequireEngine();
        var (_, _, handle) = await fx.RunAsync("done", Sh("true"));
        var e = await Assert.ThrowsAsync<StrataException>(() => fx.Driver.ExecAsync(handle, new ExecRequest { Command = ["true"] }, (_, _) => ValueTask.CompletedTask, CancellationToken.None));
        Assert.Equal(ErrorKind.Conflict, e.Kind);
    }

    [SkippableFact]
    public async Task Snapshot_RestoreAfterChange_BringsBackTheWritableLayer()
    {
        fx.RequireEngine();
        var handle = await fx.CreateAsync("snap", Sh("trap 'exit 0' TERM; while true; do sleep 0.1; done"));
        handle = await fx.Driver.StartAsync(handle, CancellationToken.None);
        var output = new StringBuilder();
        Assert.Equal(0, await ExecWhenRunningAsync(fx.Driver, handle, new ExecRequest { Command = ["sh", "-c", "echo original > /state; rm /bin/vi"] }, output));

        var snapDir = Path.Combine(handle.Directory, "snapshots", "before");
        Directory.CreateDirectory(snapDir);
        var snapshot = await fx.Driver.SnapshotAsync(handle, snapDir, CancellationToken.None); // taken while running (frozen)
        Assert.True(snapshot.SizeBytes > 0);
        Assert.Equal(SnapshotKind.Filesystem, snapshot.Kind);
        Assert.Equal(0, await ExecWhenRunningAsync(fx.Driver, handle, new ExecRequest { Command = ["sh", "-c", "echo changed > /state; echo new > /extra"] }, output));
        var busy = await Assert.ThrowsAsync<StrataException>(() => fx.Driver.RestoreAsync(handle, snapDir, CancellationToken.None));
        Assert.Equal(ErrorKind.Conflict, busy.Kind);

        await fx.Driver.StopAsync(handle, TimeSpan.FromSeconds(10), CancellationToken.None);
        await fx.Driver.WaitAsync(handle, CancellationToken.None);
        handle = await fx.Driver.RestoreAsync(handle, snapDir, CancellationToken.None); // swaps the layer and starts

        output.Clear();
        Assert.Equal(0, await ExecWhenRunningAsync(fx.Driver, handle, new ExecRequest { Command = ["sh", "-c", "cat /state; ls /extra 2>&1; ls /bin/vi 2>&1; true"] }, output));
        Assert.Contains("original", output.ToString());
        Assert.Contains("/extra: No such file", output.ToString());
        Assert.Contains("/bin/vi: No such file", output.ToString()); // the whiteout came back too
        await fx.Driver.StopAsync(handle, TimeSpan.Zero, CancellationToken.None);
        await fx.Driver.WaitAsync(handle, CancellationToken.None);
    }

    /// <summary>Right after start the runtime may still be creating the container: retry exec until it runs.</summary>
    private static async Task<int> ExecWhenRunningAsync(ContainerDriver driver, DriverHandle handle, ExecRequest request, StringBuilder output)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                return await driver.ExecAsync(handle, request, (_, bytes) =>
                {
                    lock (output)
                    {
                        output.Append(Encoding.UTF8.GetString(bytes.Span));
                    }
                    return ValueTask.CompletedTask;
                }, CancellationToken.None);
            }
            catch (StrataException e) when (e.Kind == ErrorKind.Conflict && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }
        }
    }
}
