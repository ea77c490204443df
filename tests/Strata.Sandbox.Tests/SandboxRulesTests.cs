using System.Text;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Drivers.Sandbox;
using Strata.Node.Guest;
using Strata.Node.Images;
using Strata.Testing;

namespace Strata.Sandbox.Tests;

/// <summary>Engine-free rules of the sandbox tier: workload decisions, exit outcomes, reports, layer merging.</summary>
public sealed partial class SandboxRulesTests : IDisposable
{
    private static partial class Xattr
    {
        [System.Runtime.InteropServices.LibraryImport("libc", StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8, SetLastError = true)]
        internal static partial int lsetxattr(string path, string name, byte[] value, nuint size, int flags);
    }

    private readonly TempDirectory _temp = new("strata-sbrules");

    private static readonly ImageConfig Image = new()
    {
        Entrypoint = ["/entry"],
        Cmd = ["default-arg"],
        Env = ["PATH=/image/bin", "A=image"],
        WorkingDir = "/srv",
    };

    private static SandboxWorkload Decide(InstanceSpec spec, ImageConfig? config = null) =>
        SandboxWorkload.Decide(spec with { Image = "img" }, "name", config ?? Image, "/base.ext4", "sha256:00");

    [Fact]
    public void Decide_NoOverrides_UsesEntrypointCmdEnvAndWorkdirOfTheImage()
    {
        var w = Decide(new InstanceSpec());
        Assert.Equal(["/entry", "default-arg"], w.Argv);
        Assert.Equal("/image/bin", w.Env["PATH"]);
        Assert.Equal("image", w.Env["A"]);
        Assert.Equal("/srv", w.WorkingDir);
        Assert.Equal(1, w.Cpus);
        Assert.Equal(SandboxWorkload.DefaultMemoryMiB, w.MemoryMiB);
    }

    [Fact]
    public void Decide_ArgsOnly_ReplaceCmdKeepEntrypoint() =>
        Assert.Equal(["/entry", "x"], Decide(new InstanceSpec { Args = ["x"] }).Argv);

    [Fact]
    public void Decide_CommandGiven_DropsTheImageCmd() =>
        Assert.Equal(["/bin/sh"], Decide(new InstanceSpec { Command = ["/bin/sh"] }).Argv);

    [Fact]
    public void Decide_SpecEnvAndResources_OverrideAndMap()
    {
        var w = Decide(new InstanceSpec
        {
            Env = new Dictionary<string, string> { ["A"] = "spec" },
            WorkingDir = "/w",
            Resources = new ResourceSpec { Cpus = 1.5, MemoryBytes = 512L * 1024 * 1024 },
        });
        Assert.Equal("spec", w.Env["A"]);
        Assert.Equal("name", w.Env["HOSTNAME"]);
        Assert.Equal("/w", w.WorkingDir);
        Assert.Equal(2, w.Cpus);
        Assert.Equal(512, w.MemoryMiB);
    }

    private string UserLayer()
    {
        var layer = _temp.Combine("users-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(Path.Combine(layer, "etc"));
        File.WriteAllText(Path.Combine(layer, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
        File.WriteAllText(Path.Combine(layer, "etc", "group"), "root:x:0:\napp:x:1000:\nstaff:x:50:app\n");
        return layer;
    }

    [Fact]
    public void Decide_ImageUserByName_ResolvesUidGidAndHomeFromTheImage()
    {
        var w = SandboxWorkload.Decide(new InstanceSpec { Image = "img" }, "name", Image with { User = "app" }, "/base.ext4", "sha256:00", [UserLayer()]);
        Assert.Equal((1000L, 1000L, "/home/app"), (w.Uid, w.Gid, w.Home));
        var script = w.ToGuest().ToScript();
        Assert.Contains("HOME='/home/app'", script, StringComparison.Ordinal);
        Assert.Contains("nsenter -F -S 1000 -G 1000 -- \"$@\"", script, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_SpecUser_WinsOverTheImageAndUnknownNamesAreRefused()
    {
        var layers = new[] { UserLayer() };
        var w = SandboxWorkload.Decide(new InstanceSpec { Image = "img", Security = new SecuritySpec { User = "1234:staff" } }, "name", Image with { User = "app" }, "/b", "sha256:00", layers);
        Assert.Equal((1234L, 50L, "/"), (w.Uid, w.Gid, w.Home));

        var e = Assert.Throws<StrataException>(() => SandboxWorkload.Decide(new InstanceSpec { Image = "img", Security = new SecuritySpec { User = "nosuchuser" } }, "name", Image, "/b", "sha256:00", layers));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Equal("security.user", e.Field);
        Assert.Contains("nosuchuser", e.Message, StringComparison.Ordinal);
        Assert.Equal("image", Assert.Throws<StrataException>(() => SandboxWorkload.Decide(new InstanceSpec { Image = "img" }, "name", Image with { User = "ghost" }, "/b", "sha256:00", layers)).Field);
    }

    [Fact]
    public void Decide_RootUser_RunsWithoutNsenter_HomeIsSlashWithoutPasswd()
    {
        var w = Decide(new InstanceSpec());
        Assert.Equal((0L, 0L, "/"), (w.Uid, w.Gid, w.Home));
        var script = w.ToGuest().ToScript();
        Assert.DoesNotContain("nsenter", script, StringComparison.Ordinal);
        Assert.Contains("exec \"$@\"", script, StringComparison.Ordinal);
    }

    /// <summary>Runs a workload script the way the guest does (busybox sh), here on the host.</summary>
    private (int Code, string Output) RunScript(Strata.Qemu.Guest.GuestWorkload workload)
    {
        TestEnvironment.Require(File.Exists("/bin/busybox"), "static busybox is missing (apt-get install busybox-static)");
        var script = _temp.Combine("w-" + Guid.NewGuid().ToString("N")[..6] + ".sh");
        File.WriteAllText(script, workload.ToScript());
        var psi = new System.Diagnostics.ProcessStartInfo("/bin/busybox") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/" };
        psi.ArgumentList.Add("sh");
        psi.ArgumentList.Add(script);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output);
    }

    [SkippableFact]
    public void WorkloadScript_BareName_RunsThePathsProgramNotABusyboxApplet()
    {
        var bin = _temp.Combine("bin");
        Directory.CreateDirectory(bin);
        File.WriteAllText(Path.Combine(bin, "ls"), "#!/bin/sh\necho image-ls \"$@\"\n");
        File.SetUnixFileMode(Path.Combine(bin, "ls"), UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        var env = new Dictionary<string, string> { ["PATH"] = bin };
        Assert.Equal((0, "image-ls a b\n"), RunScript(new Strata.Qemu.Guest.GuestWorkload(["ls", "a", "b"], env)));
        var (code, output) = RunScript(new Strata.Qemu.Guest.GuestWorkload(["cat"], env));
        Assert.Equal(127, code);
        Assert.Contains("cat: not found", output, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void WorkloadScript_NonRootUser_DropsToItWithNoGroupsOrCapabilitiesAndKeepsTheExitCode()
    {
        TestEnvironment.Require(TestEnvironment.IsRoot, "changing uid needs root");
        var (code, output) = RunScript(new Strata.Qemu.Guest.GuestWorkload(
            ["sh", "-c", "echo $(id -u):$(id -g):$HOME; grep -E '^(Groups|CapEff)' /proc/self/status; exit 9"], null, "/", 1234, 5678, "/home/x"));
        Assert.Equal(9, code);
        Assert.Equal("1234:5678:/home/x\nGroups:\t\nCapEff:\t0000000000000000\n", output.Replace("\t \n", "\t\n", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_VersionTwoFile_RunsAsRoot()
    {
        var dir = _temp.Combine("v2");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, SandboxWorkload.FileName),
            """{"version":2,"argv":["true"],"env":{},"workingDir":"/","cpus":1,"memoryMiB":256,"baseDisk":"/b.ext4","imageDigest":"sha256:00","mounts":[{"source":"/s","target":"/t","readOnly":true}]}""");
        var w = SandboxWorkload.Load(dir);
        Assert.Equal((0L, 0L), (w.Uid, w.Gid));
        Assert.Empty(w.Layers);
        Assert.Equal([new SandboxMount("/s", "/t", true)], w.Mounts);
        Assert.DoesNotContain("nsenter", w.ToGuest().ToScript(), StringComparison.Ordinal);
        Assert.Contains("HOME='/root'", w.ToGuest().ToScript(), StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_TooLittleMemoryOrNoCommand_AreRefusedWithTheField()
    {
        Assert.Equal("resources.memoryBytes", Assert.Throws<StrataException>(() => Decide(new InstanceSpec { Resources = new ResourceSpec { MemoryBytes = 16L << 20 } })).Field);
        Assert.Equal("command", Assert.Throws<StrataException>(() => Decide(new InstanceSpec(), new ImageConfig())).Field);
        Assert.Equal("command", Assert.Throws<StrataException>(() => Decide(new InstanceSpec { Args = [new string('x', 3000)] })).Field);
    }

    private DriverHandle Handle(string? control = null, string? stopSignal = null)
    {
        var dir = _temp.Combine(Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        if (control is not null)
        {
            File.WriteAllText(Path.Combine(dir, SandboxDriver.ControlFileName), control);
        }
        if (stopSignal is not null)
        {
            File.WriteAllText(Path.Combine(dir, SandboxDriver.StopSignalFileName), stopSignal);
        }
        return new DriverHandle { InstanceId = "i", Directory = dir };
    }

    private static readonly ExitStatus QemuExitedCleanly = new() { ExitCode = 0, FinishedAt = DateTimeOffset.UnixEpoch };

    [Fact]
    public void Decide_Mounts_KeepDirectoriesAndFilesAndRefuseMissingPathsAndGuestDirectories()
    {
        var dir = _temp.Combine("share");
        Directory.CreateDirectory(dir);
        var file = _temp.Combine("file.txt");
        File.WriteAllText(file, "x");

        var w = Decide(new InstanceSpec { Mounts = [new MountSpec { Source = dir, Target = "/data/", ReadOnly = true }] });
        Assert.Equal([new SandboxMount(dir, "/data", true)], w.Mounts);
        var f = Decide(new InstanceSpec { Mounts = [new MountSpec { Source = file, Target = "/etc/app.conf" }] });
        Assert.Equal([new SandboxMount(file, "/etc/app.conf", false, File: true)], f.Mounts);

        void Refused(MountSpec m, string field)
        {
            var e = Assert.Throws<StrataException>(() => Decide(new InstanceSpec { Mounts = [new MountSpec { Source = dir, Target = "/ok" }, m] }));
            Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
            Assert.Equal(field, e.Field);
        }
        Refused(new MountSpec { Source = dir + "-missing", Target = "/m" }, "mounts[1].source");
        Refused(new MountSpec { Source = "relative", Target = "/m" }, "mounts[1].source");
        Refused(new MountSpec { Source = dir, Target = "/" }, "mounts[1].target");
        Refused(new MountSpec { Source = dir, Target = "/a/../b" }, "mounts[1].target");
        Refused(new MountSpec { Source = dir, Target = "/proc" }, "mounts[1].target");
        Refused(new MountSpec { Source = dir, Target = "/a\nb" }, "mounts[1].target");
    }

    [Theory]
    [InlineData("readonly", "security.readOnlyRootfs")]
    [InlineData("capadd", "security.capAdd")]
    [InlineData("device", "security.devices")]
    [InlineData("cpuset", "resources.cpuset")]
    public void HostKernelOptions_OnTheSandboxTier_AreRefusedNotIgnored(string option, string field)
    {
        var spec = option switch
        {
            "readonly" => new InstanceSpec { Security = new SecuritySpec { ReadOnlyRootfs = true } },
            "capadd" => new InstanceSpec { Security = new SecuritySpec { CapAdd = ["NET_ADMIN"] } },
            "device" => new InstanceSpec { Security = new SecuritySpec { Devices = ["/dev/fuse"] } },
            _ => new InstanceSpec { Resources = new ResourceSpec { Cpuset = "0-1" } },
        };
        var e = Assert.Throws<StrataException>(() => Strata.Node.Drivers.GuestTierOptions.RefuseHostKernelOptions(spec, "sandbox"));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Equal(field, e.Field);
        Assert.Contains("--tier container", e.Message, StringComparison.Ordinal);
        // A user, env, mounts and resources the tier maps are not refused.
        Strata.Node.Drivers.GuestTierOptions.RefuseHostKernelOptions(new InstanceSpec { Security = new SecuritySpec { User = "1000" }, Resources = new ResourceSpec { Cpus = 2 } }, "sandbox");
    }

    [Fact]
    public void Load_VersionOneFile_HasNoMounts()
    {
        var dir = _temp.Combine("v1");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, SandboxWorkload.FileName),
            """{"version":1,"argv":["true"],"env":{},"workingDir":"/","cpus":1,"memoryMiB":256,"baseDisk":"/b.ext4","imageDigest":"sha256:00"}""");
        var w = SandboxWorkload.Load(dir);
        Assert.Empty(w.Mounts);
        Assert.Equal(["true"], w.Argv);
    }

    [Fact]
    public void VirtioFsStartScript_ReadOnlyExport_BindsReadOnlyAndWaitsForTheSocket()
    {
        var script = Strata.Qemu.VirtioFsDaemon.StartScript("/usr/lib/qemu/virtiofsd",
            [new Strata.Qemu.VirtioFsExport("/host/it's", "/i/mnt/m0", "/i/fs0.sock", ReadOnly: true)]);
        Assert.Contains("unshare -m --propagation private", script, StringComparison.Ordinal);
        Assert.Contains("'/host/it'\\''s' '/i/mnt/m0' ro '/usr/lib/qemu/virtiofsd' --socket-path='/i/fs0.sock' -o source='/i/mnt/m0'", script, StringComparison.Ordinal);
        Assert.Contains("[ -S '/i/fs0.sock' ]", script, StringComparison.Ordinal);
        Assert.Throws<StrataException>(() => Strata.Qemu.VirtioFsDaemon.StartScript("/v", [new Strata.Qemu.VirtioFsExport("/h", "/i,x/m0", "/i/fs0.sock", false)]));
    }

    [Fact]
    public void VirtioFsStartScript_FileExport_StagesTheFileAloneOnAReadOnlyTmpfs()
    {
        var script = Strata.Qemu.VirtioFsDaemon.StartScript("/usr/lib/qemu/virtiofsd",
            [new Strata.Qemu.VirtioFsExport("/host/app.conf", "/i/mnt/m0", "/i/fs0.sock", ReadOnly: true, File: true)]);
        Assert.Contains("mount -t tmpfs", script, StringComparison.Ordinal);
        Assert.Contains("mount -o remount,bind,ro", script, StringComparison.Ordinal);
        Assert.Contains("'/host/app.conf' '/i/mnt/m0' ro", script, StringComparison.Ordinal);
        Assert.Contains("-o source='/i/mnt/m0'", script, StringComparison.Ordinal);
    }

    [Fact]
    public void GuestMounts_KernelArgument_NamesFilesAndDirectories()
    {
        var arg = Strata.Qemu.GuestMount.ToKernelArgument([new Strata.Qemu.GuestMount("m0", "/s0", "/data", false), new Strata.Qemu.GuestMount("m1", "/s1", "/etc/a b", true, File: true)]);
        var lines = Encoding.UTF8.GetString(Convert.FromBase64String(arg["strata.mounts=".Length..]));
        Assert.Equal("m0 rw dir /data\nm1 ro file /etc/a b\n", lines);
    }

    [Fact]
    public void Outcome_GuestReported_ItsCodeWinsOverAStop()
    {
        var exit = SandboxDriver.Outcome(Handle("STRATA-TIME kernel 1.5\nSTRATA-EXIT 4\n", stopSignal: "15"), QemuExitedCleanly);
        Assert.Equal(4, exit.ExitCode);
        Assert.False(exit.Failed);
    }

    [Fact]
    public void Outcome_StoppedByTheDriver_Is128PlusTheSignal()
    {
        var exit = SandboxDriver.Outcome(Handle("STRATA-TIME kernel 1.5\n", stopSignal: "9"), QemuExitedCleanly);
        Assert.Equal(137, exit.ExitCode);
        Assert.Contains("SIGKILL", exit.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Outcome_GuestNeverReported_FailsSayingWhy()
    {
        var exit = SandboxDriver.Outcome(Handle("STRATA-FAIL cannot mount /dev/vda as ext4\n"), QemuExitedCleanly);
        Assert.True(exit.Failed);
        Assert.Contains("cannot mount", exit.Reason, StringComparison.Ordinal);

        var silent = SandboxDriver.Outcome(Handle(), QemuExitedCleanly);
        Assert.True(silent.Failed);
        Assert.Contains("never reported", silent.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Report_TimingMarks_GiveTheBreakdown()
    {
        var handle = Handle("STRATA-TIME kernel 2.0\nSTRATA-TIME workload 2.5\nSTRATA-TIME exit 2.75\nSTRATA-EXIT 0\n");
        var report = SandboxGuestReport.Read(Path.Combine(handle.Directory, SandboxDriver.ControlFileName));
        Assert.Equal(0, report.ExitCode);
        Assert.Equal("total 3000 ms = qemu 250 + kernel 2000 + init 500 + workload 250", report.Breakdown(TimeSpan.FromSeconds(3)));
    }

    [SkippableFact]
    public async Task MergeLayers_WhiteoutsAndOpaqueDirectories_HideLowerContent()
    {
        TestEnvironment.Require(TestEnvironment.IsRoot, "whiteouts are character devices: mknod needs root");
        var lower = _temp.Combine("lower");
        var upper = _temp.Combine("upper");
        Directory.CreateDirectory(Path.Combine(lower, "etc"));
        Directory.CreateDirectory(Path.Combine(lower, "opaque"));
        File.WriteAllText(Path.Combine(lower, "etc", "gone"), "x");
        File.WriteAllText(Path.Combine(lower, "etc", "kept"), "lower");
        File.WriteAllText(Path.Combine(lower, "opaque", "old"), "x");
        Directory.CreateDirectory(Path.Combine(upper, "etc"));
        Directory.CreateDirectory(Path.Combine(upper, "opaque"));
        File.WriteAllText(Path.Combine(upper, "opaque", "new"), "upper");
        File.WriteAllText(Path.Combine(upper, "etc", "kept"), "upper");
        Assert.Equal(0, Run("mknod", Path.Combine(upper, "etc", "gone"), "c", "0", "0"));
        Assert.Equal(0, Xattr.lsetxattr(Path.Combine(upper, "opaque"), "trusted.overlay.opaque", "y"u8.ToArray(), 1, 0));

        var merged = _temp.Combine("merged");
        await LayerMerge.MergeAsync([lower, upper], merged, CancellationToken.None);

        Assert.False(File.Exists(Path.Combine(merged, "etc", "gone")));
        Assert.Equal("upper", File.ReadAllText(Path.Combine(merged, "etc", "kept")));
        Assert.False(File.Exists(Path.Combine(merged, "opaque", "old")));
        Assert.Equal("upper", File.ReadAllText(Path.Combine(merged, "opaque", "new")));
    }

    private static int Run(string file, params string[] args)
    {
        TestEnvironment.Require(TestEnvironment.Which(file) is not null, $"{file} is not installed");
        var psi = new System.Diagnostics.ProcessStartInfo(file);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = System.Diagnostics.Process.Start(psi)!;
        p.WaitForExit();
        return p.ExitCode;
    }

    [Fact]
    public void CacheKey_ImageDigest_IsStableAndNamesTheDigest()
    {
        Assert.Equal("image-abc", GuestRootDisks.CacheKey([], "sha256:abc"));
        var dir = _temp.Combine("d");
        Directory.CreateDirectory(dir);
        var key = GuestRootDisks.CacheKey([dir], "dir:" + dir);
        Assert.StartsWith("dir-", key, StringComparison.Ordinal);
        Assert.Equal(key, GuestRootDisks.CacheKey([dir], "dir:" + dir));
    }

    public void Dispose() => _temp.Dispose();
}
