using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Vm.Tests;

/// <summary>The vm tier through a real stratad and the AOT CLI: what survives a daemon crash, the console.</summary>
public sealed class VmDaemonTests
{
    [SkippableFact]
    public async Task RunArm64_UnameM_PrintsAarch64AndExitsWithGuestCode()
    {
        VmDaemon.RequireBinaries();
        VmFixture.RequireArm64();
        await using var daemon = new VmDaemon();
        await daemon.StartAsync();
        Assert.Contains("arm64: yes", daemon.RunOk("info"), StringComparison.Ordinal);
        var built = daemon.RunOk("image", "build-base", "busybox", "--arch", "arm64");
        Assert.StartsWith("busybox:arm64 ", built, StringComparison.Ordinal);
        Assert.Contains("linux/arm64", daemon.RunOk("image", "inspect", "busybox:arm64"), StringComparison.Ordinal);

        var (code, stdout, stderr) = daemon.Run("run", "--rm", "--tier", "vm", "--arch", "arm64", "busybox:arm64", "--", "sh", "-c", "uname -m; exit 3");
        Assert.True(code == 3, $"exit {code}: {stderr}");
        Assert.Equal("aarch64\n", stdout);
    }

    [SkippableFact]
    public async Task DaemonKilled_RunningVm_KeepsRunningIsReattachedAndStopsCleanly()
    {
        VmDaemon.RequireBinaries();
        await using var daemon = new VmDaemon();
        await daemon.StartAsync();
        daemon.RunOk("image", "build-base", "busybox");
        daemon.RunOk("run", "-d", "--name", "vm1", "--tier", "vm", "--memory", "256M", "busybox:latest", "--", "sh", "-c", "echo booted; while true; do sleep 1; done");
        var before = daemon.Inspect("vm1");
        Assert.Equal("running", before.State);
        var qemuPid = before.Pid!.Value;
        Assert.Contains("qemu-system", File.ReadAllText($"/proc/{qemuPid}/cmdline"), StringComparison.Ordinal);
        // The guest is up (its workload printed) before the daemon goes away.
        Assert.True(await TestEnvironment.EventuallyAsync(() => daemon.Run("logs", "vm1").Stdout.Contains("booted", StringComparison.Ordinal),
            TimeSpan.FromSeconds(120), TimeSpan.FromMilliseconds(250)), "the guest never printed 'booted'");
        // Hold the QMP connection in the old daemon, so the new one must really reconnect.
        daemon.RunOk("resize", "vm1", "--memory", "240M");

        await daemon.KillAsync();
        Assert.True(Alive(qemuPid), "QEMU must outlive the daemon");

        await daemon.StartAsync();
        var after = daemon.Inspect("vm1");
        Assert.Equal("running", after.State);
        Assert.Equal(qemuPid, after.Pid);
        Assert.Equal(0, after.RestartCount);
        // QMP answers the new daemon: a balloon change goes through and is reported back by QEMU.
        // (The guest gives the memory back at its own pace: ask again until QEMU reports the new size.)
        Assert.True(await TestEnvironment.EventuallyAsync(
            () => JsonSerializer.Deserialize(daemon.RunOk("resize", "vm1", "--memory", "200M", "--json"), StrataJsonContext.Default.ResizeResponse)!.MemoryBytes == 200L * 1024 * 1024,
            TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(500)), "the balloon never reached 200 MiB through the restarted daemon");

        // vCPU hot-add through the restarted daemon: QEMU's query-cpus-fast count rises.
        var cpus = JsonSerializer.Deserialize(daemon.RunOk("resize", "vm1", "--cpus", "2", "--json"), StrataJsonContext.Default.ResizeResponse)!;
        Assert.Equal(2, cpus.Cpus);

        daemon.RunOk("stop", "-t", "2", "vm1");
        var stopped = daemon.Inspect("vm1");
        Assert.Equal("stopped", stopped.State);
        Assert.Equal(143, stopped.ExitCode);
        // Strata's init passes the ACPI power button on to the workload as SIGTERM: the shell's own exit (143)
        // ends the guest within the grace period, so QEMU never has to be quit or killed.
        Assert.DoesNotContain("grace period", stopped.Reason ?? "", StringComparison.Ordinal);
        Assert.True(await TestEnvironment.EventuallyAsync(() => !Alive(qemuPid), TimeSpan.FromSeconds(30)), "QEMU is still running after stop");
    }

    [SkippableFact]
    public async Task Console_ShellOnTheSerialPort_EchoesInputAndAnswersThenDetaches()
    {
        VmDaemon.RequireBinaries();
        await using var daemon = new VmDaemon();
        await daemon.StartAsync();
        daemon.RunOk("image", "build-base", "busybox");
        // The workload opens the serial console first (so input is buffered from then on), says so on its stdout,
        // and runs a shell on the console.
        daemon.RunOk("run", "-d", "--name", "con", "--tier", "vm", "busybox:latest", "--",
            "sh", "-c", "exec 3<>/dev/ttyS0; echo console-open; exec sh -i <&3 >&3 2>&3");
        Assert.True(await TestEnvironment.EventuallyAsync(() => daemon.Run("logs", "con").Stdout.Contains("console-open", StringComparison.Ordinal),
            TimeSpan.FromSeconds(120), TimeSpan.FromMilliseconds(250)), "the guest never opened its console");

        var psi = daemon.CliStartInfo("console", "con");
        psi.RedirectStandardInput = true;
        using var cli = Process.Start(psi)!;
        var output = new StringBuilder();
        var reading = Task.Run(async () =>
        {
            var buffer = new char[1024];
            int n;
            while ((n = await cli.StandardOutput.ReadAsync(buffer)) > 0)
            {
                lock (output)
                {
                    output.Append(buffer, 0, n);
                }
            }
        });
        string Seen()
        {
            lock (output)
            {
                return output.ToString();
            }
        }

        await cli.StandardInput.WriteAsync("echo answer-$((6*7))\n");
        await cli.StandardInput.FlushAsync();
        // The line discipline echoes the typed line; only the shell's evaluation prints answer-42.
        Assert.True(await TestEnvironment.EventuallyAsync(() => Seen().Contains("answer-42", StringComparison.Ordinal), TimeSpan.FromSeconds(60)),
            $"no answer on the console; got: {Seen()}");
        Assert.Contains("echo answer-$((6*7))", Seen(), StringComparison.Ordinal);

        // A second attach is refused while the first holds the console.
        var second = daemon.Run("console", "con");
        Assert.NotEqual(0, second.ExitCode);
        Assert.Contains("already attached", second.Stderr, StringComparison.Ordinal);

        await cli.StandardInput.WriteAsync('\u001d'); // Ctrl-]
        await cli.StandardInput.FlushAsync();
        Assert.True(cli.WaitForExit(TimeSpan.FromSeconds(20)), "strata console did not detach on Ctrl-]");
        Assert.Equal(0, cli.ExitCode);
        await reading;
        Assert.Equal("running", daemon.Inspect("con").State);

        // Attached or not, the console also went to the instance's serial log.
        var serial = Path.Combine(daemon.Root, "instances", daemon.Inspect("con").Id, "serial.log");
        Assert.Contains("answer-42", File.ReadAllText(serial), StringComparison.Ordinal);

        // Attaching again works after the detach; stopping the VM while attached ends the session.
        var again = daemon.CliStartInfo("console", "con");
        again.RedirectStandardInput = true;
        using (var cli2 = Process.Start(again)!)
        {
            var text = new StringBuilder();
            var pump = Task.Run(async () =>
            {
                var buffer = new char[1024];
                int n;
                while ((n = await cli2.StandardOutput.ReadAsync(buffer)) > 0)
                {
                    lock (text)
                    {
                        text.Append(buffer, 0, n);
                    }
                }
            });
            var stderr = cli2.StandardError.ReadToEndAsync();
            await cli2.StandardInput.WriteAsync("echo again-$((1+1))\n");
            await cli2.StandardInput.FlushAsync();
            Assert.True(await TestEnvironment.EventuallyAsync(() => { lock (text) { return text.ToString().Contains("again-2", StringComparison.Ordinal); } }, TimeSpan.FromSeconds(60)),
                "no answer on the second attach");
            daemon.RunOk("stop", "-t", "1", "con");
            Assert.True(cli2.WaitForExit(TimeSpan.FromSeconds(30)), "strata console did not end when the VM stopped");
            Assert.Equal(0, cli2.ExitCode);
            await pump;
            Assert.Contains("console closed", await stderr, StringComparison.Ordinal);
        }
        var stopped = daemon.Run("console", "con");
        Assert.NotEqual(0, stopped.ExitCode);
        Assert.Contains("not running", stopped.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task ImageLs_ImportedDisk_IsListedWithKindDisk()
    {
        VmDaemon.RequireBinaries();
        await using var daemon = new VmDaemon();
        await daemon.StartAsync();
        // The smallest raw disk the import accepts: whole sectors, at least 1 MiB, an MBR boot signature.
        var raw = Path.Combine(daemon.Root, "..", "tiny.raw");
        var bytes = new byte[2 * 1024 * 1024];
        bytes[510] = 0x55;
        bytes[511] = 0xAA;
        await File.WriteAllBytesAsync(raw, bytes);
        daemon.RunOk("image", "import", raw, "--kind", "disk", "tinydisk");

        var list = JsonSerializer.Deserialize(daemon.RunOk("image", "ls", "--json"), StrataJsonContext.Default.ImageList)!;
        var disk = Assert.Single(list.Items, i => i.Name == "tinydisk");
        Assert.Equal("disk", disk.Kind);
        Assert.Equal(2L * 1024 * 1024, disk.Size);
        Assert.Contains("disk", daemon.RunOk("image", "ls").Split('\n').Single(l => l.Contains("tinydisk", StringComparison.Ordinal)), StringComparison.Ordinal);
    }

    private static bool Alive(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/stat").Split(' ')[2] != "Z";
        }
        catch (IOException)
        {
            return false;
        }
    }
}
