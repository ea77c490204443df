using System.Text;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Testing;

namespace Strata.Sandbox.Tests;

/// <summary>Users inside the guest (image USER, --user, exec --user) and single-file mounts.</summary>
public sealed partial class SandboxDriverTests
{
    [SkippableFact]
    public async Task Run_ImageUserNotRoot_RunsAsThatUserWithoutPrivileges()
    {
        SandboxTestHost.RequireEngine();
        await SandboxTestHost.EnsureAppImageAsync();
        var handle = await RunAsync(new InstanceSpec
        {
            Image = SandboxTestHost.AppImage,
            Args = ["sh", "-c", "id -u; id -g; echo $HOME; grep -E '^(CapEff|Groups)' /proc/self/status; echo x >> /etc/passwd && echo WROTE-ROOT-FILE; exit 3"],
        });
        var exit = await WaitAsync(handle);

        var stdout = SandboxTestHost.Stream(handle, "stdout");
        var stderr = SandboxTestHost.Stream(handle, "stderr");
        Assert.True(exit.ExitCode == 3, $"exit {exit.ExitCode}: {exit.Reason}; stdout: {stdout}; stderr: {stderr}");
        Assert.False(exit.Failed, exit.Reason);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()).ToList();
        Assert.Equal(["1000", "1000", "/home/app"], lines.Take(3));
        Assert.Contains(lines, l => l.Replace("\t", " ", StringComparison.Ordinal) == "CapEff: 0000000000000000");
        Assert.Contains(lines, l => l.TrimEnd() == "Groups:"); // no supplementary groups
        Assert.DoesNotContain("WROTE-ROOT-FILE", stdout, StringComparison.Ordinal);
        Assert.Contains("Permission denied", stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Run_SpecUserNumeric_OverridesTheImageAndStillGetsSigterm()
    {
        SandboxTestHost.RequireEngine();
        var handle = await RunAsync(new InstanceSpec
        {
            Security = new SecuritySpec { User = "1234:5678" },
            Args = ["sh", "-c", "trap 'echo got-term; exit 3' TERM; id -u; id -g; echo ready; while :; do sleep 1; done"],
        });
        Assert.True(await TestEnvironment.EventuallyAsync(() => SandboxTestHost.Stream(handle, "stdout").Contains("ready", StringComparison.Ordinal), BootBudget),
            "the workload never printed 'ready': " + SandboxTestHost.Stream(handle, "stderr"));

        await _driver.StopAsync(handle, BootBudget, CancellationToken.None);
        var exit = await WaitAsync(handle);

        Assert.Equal("1234\n5678\nready\ngot-term\n", SandboxTestHost.Stream(handle, "stdout"));
        Assert.Equal(3, exit.ExitCode);
    }

    [SkippableFact]
    public async Task Create_UnknownUserName_IsRefusedNamingTheUser()
    {
        SandboxTestHost.RequireEngine();
        var e = await Assert.ThrowsAsync<StrataException>(() => SandboxTestHost.CreateAsync(_driver, _temp,
            new InstanceSpec { Tier = "sandbox", Image = "busybox", Args = ["true"], Security = new SecuritySpec { User = "nosuchuser" } }));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Equal("security.user", e.Field);
        Assert.Contains("'nosuchuser'", e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Exec_WithUser_RunsAsThatUserAndDefaultsToTheSandboxsUser()
    {
        SandboxTestHost.RequireEngine();
        await SandboxTestHost.EnsureAppImageAsync();
        var handle = await RunAsync(new InstanceSpec { Image = SandboxTestHost.AppImage, Args = ["sh", "-c", "echo ready; exec sleep 600"] });
        Assert.True(await TestEnvironment.EventuallyAsync(() => SandboxTestHost.Stream(handle, "stdout").Contains("ready", StringComparison.Ordinal), BootBudget),
            "the workload never printed 'ready'");

        async Task<(int Code, string Out)> As(string? user, string script)
        {
            var stdout = new StringBuilder();
            var stderr = new StringBuilder();
            var code = await ExecAsync(handle, ["sh", "-c", script], stdout, stderr, user: user);
            return (code, stdout.ToString() + stderr);
        }

        Assert.Equal((0, "1000:1000:/home/app\n"), await As(null, "echo $(id -u):$(id -g):$HOME"));
        Assert.Equal((0, "0:0:/root\n"), await As("root", "echo $(id -u):$(id -g):$HOME"));
        Assert.Equal((5, "1234:5678:/\n"), await As("1234:5678", "echo $(id -u):$(id -g):$HOME; exit 5"));
        var (code, output) = await As("1234", "touch /etc/x");
        Assert.NotEqual(0, code);
        Assert.Contains("Permission denied", output, StringComparison.Ordinal);

        var e = await Assert.ThrowsAsync<StrataException>(() => As("nosuchuser", "true"));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Contains("nosuchuser", e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Run_SingleFileMounts_OnlyThatFileReachesTheGuestReadOnlyHoldsAndRemoveLeavesNothing()
    {
        SandboxTestHost.RequireEngine();
        TestEnvironment.Require(Strata.Qemu.VirtioFsDaemon.Locate() is not null, "virtiofsd is not installed (apt-get install qemu-system-common)");
        var files = _temp.Combine("files");
        Directory.CreateDirectory(files);
        var granted = Path.Combine(files, "granted.txt");
        var readOnly = Path.Combine(files, "ro.txt");
        await File.WriteAllTextAsync(granted, "granted\n");
        await File.WriteAllTextAsync(readOnly, "read-only\n");
        // Next to the granted files, not granted: the guest must not find it, even through the shares themselves.
        await File.WriteAllTextAsync(Path.Combine(files, "sibling.txt"), "sibling secret\n");

        var handle = await RunAsync(new InstanceSpec
        {
            Mounts = [new MountSpec { Source = granted, Target = "/etc/granted.txt" }, new MountSpec { Source = readOnly, Target = "/srv/new/ro.txt", ReadOnly = true }],
            Args = ["sh", "-c", string.Join("; ",
                "cat /etc/granted.txt /srv/new/ro.txt",
                "echo from-guest >> /etc/granted.txt",
                "echo x > /srv/new/ro.txt 2>/dev/null && echo RO-WRITABLE",
                // Even a guest root that remounts read-write cannot write: the host's bind mount is read-only.
                "mount -o remount,rw /srv/new/ro.txt 2>/dev/null; mount -o remount,bind,rw /srv/new/ro.txt 2>/dev/null",
                "grep -q '^m1 /srv/new/ro.txt virtiofs rw' /proc/mounts && echo REMOUNTED-RW",
                "echo y > /srv/new/ro.txt 2>/dev/null && echo RO-HOST-WRITABLE",
                // The shares mounted again elsewhere hold one entry each, and nothing can be added next to it.
                "mkdir -p /x0 /x1 && mount -t virtiofs m0 /x0 && mount -t virtiofs m1 /x1 && echo SHARES $(ls -A /x0) $(ls -A /x1)",
                "touch /x0/new 2>/dev/null && echo STAGING-WRITABLE",
                "grep -rl 'sibling secret' /x0 /x1 /etc /srv 2>/dev/null && echo SIBLING-VISIBLE",
                "sync; exit 0")],
        });
        var exit = await WaitAsync(handle);

        var stdout = SandboxTestHost.Stream(handle, "stdout");
        Assert.True(exit.ExitCode == 0, $"exit {exit.ExitCode}: {exit.Reason}; stdout: {stdout}; stderr: {SandboxTestHost.Stream(handle, "stderr")}");
        Assert.StartsWith("granted\nread-only\n", stdout, StringComparison.Ordinal);
        Assert.Equal("granted\nfrom-guest\n", await File.ReadAllTextAsync(granted));
        Assert.DoesNotContain("RO-WRITABLE", stdout, StringComparison.Ordinal);
        Assert.Contains("REMOUNTED-RW", stdout, StringComparison.Ordinal); // so the next line tests the host's enforcement
        Assert.DoesNotContain("RO-HOST-WRITABLE", stdout, StringComparison.Ordinal);
        Assert.Equal("read-only\n", await File.ReadAllTextAsync(readOnly));
        Assert.Contains("SHARES file file\n", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("STAGING-WRITABLE", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("SIBLING-VISIBLE", stdout, StringComparison.Ordinal);
        Assert.Equal(["granted.txt", "ro.txt", "sibling.txt"], Directory.GetFiles(files).Select(Path.GetFileName).Order());

        await _driver.DeleteAsync(handle, CancellationToken.None);
        await AssertNothingLeftAsync(handle);
    }

    [SkippableFact]
    public async Task Start_SingleFileMountGoneBeforeStart_FailsAndRemoveLeavesNothing()
    {
        SandboxTestHost.RequireEngine();
        TestEnvironment.Require(Strata.Qemu.VirtioFsDaemon.Locate() is not null, "virtiofsd is not installed (apt-get install qemu-system-common)");
        var dir = _temp.Combine("gone");
        Directory.CreateDirectory(dir);
        var kept = Path.Combine(dir, "kept.txt");
        var gone = Path.Combine(dir, "gone.txt");
        await File.WriteAllTextAsync(kept, "kept\n");
        await File.WriteAllTextAsync(gone, "gone\n");
        var handle = await SandboxTestHost.CreateAsync(_driver, _temp, new InstanceSpec
        {
            Tier = "sandbox",
            Image = "busybox",
            Args = ["true"],
            Mounts = [new MountSpec { Source = kept, Target = "/kept" }, new MountSpec { Source = gone, Target = "/gone", ReadOnly = true }],
        });
        File.Delete(gone);
        handle = await _driver.StartAsync(handle, CancellationToken.None);
        _started.Add((_driver, handle));
        var exit = await WaitAsync(handle);

        Assert.True(exit.Failed, $"exit {exit.ExitCode}: {exit.Reason}");
        Assert.Contains("not a regular file", exit.Reason, StringComparison.Ordinal);
        await _driver.DeleteAsync(handle, CancellationToken.None);
        await AssertNothingLeftAsync(handle);
    }

    /// <summary>No mount (on the host), staging directory, socket or virtiofsd of the instance remains.</summary>
    private static async Task AssertNothingLeftAsync(DriverHandle handle)
    {
        var dir = handle.Directory;
        Assert.DoesNotContain(File.ReadAllLines("/proc/mounts"), l => l.Contains(dir, StringComparison.Ordinal));
        Assert.False(Directory.Exists(Path.Combine(dir, "mnt")), "the staging directories remain");
        Assert.Empty(Directory.GetFiles(dir, "fs*.sock"));
        // virtiofsd exits when QEMU disconnects; its namespace (and the bind mounts in it) goes with it.
        Assert.True(await TestEnvironment.EventuallyAsync(() => !VirtiofsdOf(dir).Any(), TimeSpan.FromSeconds(10)),
            "a virtiofsd of the instance is still running: " + string.Join(", ", VirtiofsdOf(dir)));
    }

    private static IEnumerable<string> VirtiofsdOf(string instanceDir) =>
        ProcessCensus.Naming(instanceDir).Where(p => p.CommandLine.Contains("virtiofsd", StringComparison.Ordinal)).Select(p => $"{p.Pid}: {p.CommandLine}");
}
