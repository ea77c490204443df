using System.Text.Json;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Drivers.Sandbox;
using Strata.Node.Drivers.Sandbox.Templates;
using Strata.Qemu;
using Strata.Qemu.Templates;
using Strata.Testing;

namespace Strata.Sandbox.Tests;

/// <summary>
/// Starts from a booted template (docs/sandbox.md#templates), with real QEMU: clones differ in everything that is
/// theirs, share nothing they write, a changed shape makes a new template, a damaged one falls back to a cold boot,
/// and a save that never finished is never used. Each test uses its own guest memory size, so its own template.
/// </summary>
public sealed class SandboxTemplateTests : IDisposable
{
    private static readonly TimeSpan BootBudget = TimeSpan.FromSeconds(180);
    private readonly TempDirectory _temp = new("strata-tpl");
    private readonly List<DriverHandle> _started = [];
    private readonly SandboxDriver _driver = SandboxTestHost.CreateDriver();

    private async Task<DriverHandle> StartAsync(InstanceSpec spec, int memoryMiB)
    {
        var handle = await SandboxTestHost.CreateAsync(_driver, _temp, spec with
        {
            Tier = "sandbox",
            Image = "busybox",
            Resources = new ResourceSpec { MemoryBytes = memoryMiB * 1024L * 1024 },
        });
        handle = await _driver.StartAsync(handle, CancellationToken.None);
        _started.Add(handle);
        return handle;
    }

    private async Task<ExitStatus> WaitAsync(DriverHandle handle)
    {
        using var cts = new CancellationTokenSource(BootBudget);
        return await _driver.WaitAsync(handle, cts.Token);
    }

    private static string How(DriverHandle handle) => handle.Data[SandboxDriver.TemplateDataKey];

    private SandboxTemplateStore Store => _driver.Templates!;

    private IReadOnlyList<SandboxTemplateInfo> TemplatesOf(int memoryMiB) => Store.List().Where(t => t.MemoryMiB == memoryMiB).ToList();

    private const string Probe =
        "hostname; echo \"$FOO\"; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo; cat /etc/marker 2>/dev/null || echo absent; echo \"$FOO\" > /etc/marker; sync; date +%s";

    [SkippableFact]
    public async Task TwoStartsFromOneTemplate_DifferInHostnameEnvAndRandomAndKeepTheirWritesApart()
    {
        SandboxTestHost.RequireEngine();
        const int memory = 200;
        var first = "tenant-" + Guid.NewGuid().ToString("N");
        var second = "tenant-" + Guid.NewGuid().ToString("N");
        var a = await StartAsync(new InstanceSpec { Env = new Dictionary<string, string> { ["FOO"] = first }, Args = ["sh", "-c", Probe] }, memory);
        var b = await StartAsync(new InstanceSpec { Env = new Dictionary<string, string> { ["FOO"] = second }, Args = ["sh", "-c", Probe] }, memory);
        var exitA = await WaitAsync(a);
        var exitB = await WaitAsync(b);

        Assert.True(exitA.ExitCode == 0, exitA.Reason + " " + SandboxTestHost.Stream(a, "stderr"));
        Assert.True(exitB.ExitCode == 0, exitB.Reason + " " + SandboxTestHost.Stream(b, "stderr"));
        Assert.True(How(a).StartsWith("template ", StringComparison.Ordinal), How(a));
        Assert.Contains("made by this start", How(a), StringComparison.Ordinal);
        Assert.True(How(b).StartsWith("template ", StringComparison.Ordinal), How(b));
        Assert.DoesNotContain("made by this start", How(b), StringComparison.Ordinal);
        Assert.Single(TemplatesOf(memory));
        // The details a live move by node name checks the target against (docs/cluster.md "CPU baseline").
        Assert.Equal(Strata.Node.Guest.GuestCpuDetails.Model(a.Data[Strata.Node.Guest.GuestCpuDetails.AcceleratorKey], null), a.Data[Strata.Node.Guest.GuestCpuDetails.ModelKey]);

        var outA = SandboxTestHost.Stream(a, "stdout").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var outB = SandboxTestHost.Stream(b, "stdout").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(5, outA.Length);
        Assert.Equal(5, outB.Length);
        // Hostname: each its own instance name.
        Assert.StartsWith("sb-", outA[0], StringComparison.Ordinal);
        Assert.NotEqual(outA[0], outB[0]);
        Assert.Equal(SandboxWorkload.Load(a.Directory).Env["STRATA_INSTANCE"], outA[0]);
        // Environment: each its own.
        Assert.Equal(first, outA[1]);
        Assert.Equal(second, outB[1]);
        // Random state: never shared.
        Assert.Equal(64, outA[2].Length);
        Assert.NotEqual(outA[2], outB[2]);
        // Writes: neither sees the other's, nor does the base disk.
        Assert.Equal("absent", outA[3]);
        Assert.Equal("absent", outB[3]);
        var debugfs = await Strata.Contracts.Host.HostTool.RunAsync("debugfs", ["-R", "stat /etc/marker", SandboxWorkload.Load(a.Directory).BaseDisk]);
        Assert.Contains("File not found", debugfs.Stdout + debugfs.Stderr, StringComparison.Ordinal);
        // Clock: the host's, not the template's save time.
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        Assert.InRange(long.Parse(outB[4], System.Globalization.CultureInfo.InvariantCulture), now - 120, now + 5);
        // No tenant data in the template: its files hold neither workload's environment value nor its hostname.
        var template = TemplatesOf(memory)[0];
        foreach (var file in Directory.GetFiles(template.Directory))
        {
            var bytes = await File.ReadAllBytesAsync(file);
            Assert.Equal(-1, bytes.AsSpan().IndexOf(System.Text.Encoding.ASCII.GetBytes(first)));
            Assert.Equal(-1, bytes.AsSpan().IndexOf(System.Text.Encoding.ASCII.GetBytes(second)));
            Assert.Equal(-1, bytes.AsSpan().IndexOf(System.Text.Encoding.ASCII.GetBytes(outA[0])));
        }
    }

    [SkippableFact]
    public async Task ChangedMemorySize_MakesANewTemplate_TheOldOneIsNotUsed()
    {
        SandboxTestHost.RequireEngine();
        var first = await StartAsync(new InstanceSpec { Args = ["true"] }, 208);
        Assert.Equal(0, (await WaitAsync(first)).ExitCode);
        var second = await StartAsync(new InstanceSpec { Args = ["sh", "-c", "grep MemTotal /proc/meminfo"] }, 224);
        Assert.Equal(0, (await WaitAsync(second)).ExitCode);

        Assert.True(How(first).Contains("made by this start", StringComparison.Ordinal), How(first));
        Assert.True(How(second).Contains("made by this start", StringComparison.Ordinal), How(second));
        Assert.NotEqual(How(first).Split(' ')[1], How(second).Split(' ')[1]);
        Assert.Single(TemplatesOf(208));
        Assert.Single(TemplatesOf(224));
        // The guest really has the new size (the 208 MiB template was not restored).
        var kib = long.Parse(SandboxTestHost.Stream(second, "stdout").Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(kib, (224 - 40) * 1024, 224 * 1024); // 224 MiB less what the kernel keeps; 208 MiB would show about 175000
    }

    [Fact]
    public void TemplateKey_ChangesWithEveryInputThatShapesTheGuest()
    {
        var shape = new SandboxTemplateShape("sha256:aa", "/nonexistent/base.ext4", "/nonexistent/vmlinuz", "/nonexistent/initramfs-1.cpio.gz",
            Accelerators.Tcg, 256, 1, "qemu-system-x86_64", 2_000_000, Network: false, NamesDisk: false);
        var key = shape.Key();
        Assert.Equal(key, shape.Key());
        Assert.NotEqual(key, shape.Key(Strata.Qemu.Guest.GuestInit.Version + 1));
        foreach (var other in new[]
        {
            shape with { MemoryMiB = 128 }, shape with { Cpus = 2 }, shape with { Accelerator = Accelerators.Kvm },
            shape with { Initrd = "/nonexistent/initramfs-2.cpio.gz" }, shape with { KernelPath = "/nonexistent/vmlinuz-2" },
            shape with { ImageDigest = "sha256:bb" }, shape with { BaseDisk = "/nonexistent/other.ext4" }, shape with { TscKHz = 1 },
            shape with { Network = true }, shape with { NamesDisk = true }, shape with { QemuBinary = "/nonexistent/qemu" }, shape with { Balloon = true },
            shape with { CpuModel = "Haswell-noTSX" }, shape with { ShareSlots = 1 },
        })
        {
            Assert.NotEqual(key, other.Key());
        }
    }

    [Fact]
    public async Task KernelSetup_IsTheBzImagesSetupSectors_NothingForAnotherFile()
    {
        var kernel = new byte[10_000];
        Random.Shared.NextBytes(kernel);
        kernel[0x1f1] = 3; // setup sectors after the boot sector
        BitConverter.GetBytes(0x53726448u).CopyTo(kernel, 0x202); // "HdrS"
        var file = _temp.Combine("vmlinuz");
        await File.WriteAllBytesAsync(file, kernel);
        var setup = _temp.Combine("kernel-setup");
        Assert.True(GuestTemplate.WriteKernelSetup(file, setup));
        Assert.Equal(kernel[..((3 + 1) * 512)], await File.ReadAllBytesAsync(setup));

        kernel[0x202] = 0; // not a bzImage: restores keep the whole kernel
        await File.WriteAllBytesAsync(file, kernel);
        var none = _temp.Combine("none");
        Assert.False(GuestTemplate.WriteKernelSetup(file, none));
        Assert.False(File.Exists(none));
    }

    [Fact]
    public async Task TemplateModePlan_KeepsTheWorkloadOffTheCommandLineAndPutsItOnTheSetupLine()
    {
        var options = new GuestVmOptions
        {
            Directory = _temp.Combine("plan"),
            KernelPath = "/boot/vmlinuz",
            InitrdPath = "/tmp/initrd",
            Workload = new Strata.Qemu.Guest.GuestWorkload(["echo", "secret-value"]),
            RootDisk = new QemuDrive("/tmp/rootfs.qcow2", "qcow2"),
            ExecSocket = _temp.Combine("plan", "exec.sock"),
            Network = new GuestNetwork("tap0", "52:54:0a:00:00:05", "10.0.0.5", 24, "10.0.0.1"),
            Hostname = "web-1",
            GuestTscKHz = 2_000_000,
        };
        var cold = QemuVm.Plan(options);
        var append = cold.Argv[cold.Argv.ToList().IndexOf("-append") + 1];
        Assert.Contains("strata.workload=", append, StringComparison.Ordinal);
        Assert.Contains("strata.hostname=web-1", append, StringComparison.Ordinal);
        Assert.Null(cold.SetupLine);

        Assert.Contains("virtio-balloon-device,free-page-reporting=on", QemuVm.Plan(options.WithFreePageReporting()).Argv);
        Assert.DoesNotContain(cold.Argv, a => a.Contains("balloon", StringComparison.Ordinal));

        // A start from a template: its RAM file, -incoming, a bounded TCG code buffer, the kernel's setup sectors and no initramfs.
        var templateDir = _temp.Combine("tpl");
        Directory.CreateDirectory(templateDir);
        await File.WriteAllBytesAsync(Path.Combine(templateDir, GuestTemplate.KernelSetupFileName), new byte[512]);
        var memory = Path.Combine(templateDir, GuestTemplate.MemoryFileName);
        var template = QemuVm.Plan(GuestTemplate.ForRestore(options, templateDir, _temp.Combine("plan", "setup.sock")));
        Assert.Equal($"tcg,tb-size={GuestTemplate.RestoreTcgCodeBufferMiB}", template.Argv[template.Argv.ToList().IndexOf("-accel") + 1]);
        Assert.Equal(Path.Combine(templateDir, GuestTemplate.KernelSetupFileName), template.Argv[template.Argv.ToList().IndexOf("-kernel") + 1]);
        Assert.DoesNotContain("-initrd", template.Argv);
        Assert.Equal("tcg", cold.Argv[cold.Argv.ToList().IndexOf("-accel") + 1]);
        var templateAppend = template.Argv[template.Argv.ToList().IndexOf("-append") + 1];
        Assert.Equal("console=ttyS0 quiet panic=-1 reboot=t tsc_early_khz=2000000 strata.template=1", templateAppend);
        Assert.StartsWith("strata.root=/dev/vda strata.workload=", template.SetupLine, StringComparison.Ordinal);
        Assert.Contains("strata.exec=1", template.SetupLine, StringComparison.Ordinal);
        Assert.Contains("strata.net=10.0.0.5/24,10.0.0.1", template.SetupLine, StringComparison.Ordinal);
        Assert.Contains("strata.hostname=web-1", template.SetupLine, StringComparison.Ordinal);
        Assert.EndsWith("strata.mac=52:54:0a:00:00:05", template.SetupLine, StringComparison.Ordinal);
        Assert.Contains($"memory-backend-file,id=tmem,size=262152K,mem-path={memory},share=off", template.Argv); // 256 MiB + GuestRam.PadKiB
        Assert.Equal("defer", template.Argv[template.Argv.ToList().IndexOf("-incoming") + 1]);
        Assert.Contains(template.Argv, a => a.Contains("name=strata.setup", StringComparison.Ordinal));
        // The setup line adds a fresh seed and the clock each time.
        var one = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(GuestTemplate.SetupLine(template.SetupLine!, DateTimeOffset.FromUnixTimeSeconds(1_700_000_000))));
        var two = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(GuestTemplate.SetupLine(template.SetupLine!, DateTimeOffset.FromUnixTimeSeconds(1_700_000_000))));
        Assert.EndsWith("strata.time=1700000000", one, StringComparison.Ordinal);
        Assert.NotEqual(one, two);
        Assert.Equal(64, Convert.FromBase64String(one.Split(' ').Single(w => w.StartsWith("strata.seed=", StringComparison.Ordinal))["strata.seed=".Length..]).Length);
    }

    [SkippableFact]
    public async Task ReseedProgram_AddsTheSeedAndRekeys_RefusesAShortSeed()
    {
        TestEnvironment.Require(System.Runtime.InteropServices.RuntimeInformation.OSArchitecture == System.Runtime.InteropServices.Architecture.X64 && Environment.UserName == "root",
            "the reseed program is x86-64 and its ioctls need root");
        var program = _temp.Combine("strata-reseed");
        await File.WriteAllBytesAsync(program, Strata.Qemu.Guest.GuestReseed.Elf());
        File.SetUnixFileMode(program, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        var ok = await Strata.Contracts.Host.HostTool.RunAsync("/bin/sh", ["-c", $"head -c 64 /dev/urandom | {program}"]);
        Assert.Equal(0, ok.ExitCode);
        var shortSeed = await Strata.Contracts.Host.HostTool.RunAsync("/bin/sh", ["-c", $"head -c 8 /dev/urandom | {program}"]);
        Assert.Equal(22, shortSeed.ExitCode);
        var strace = TestEnvironment.Which("strace");
        if (strace is not null)
        {
            var traced = await Strata.Contracts.Host.HostTool.RunAsync("/bin/sh", ["-c", $"head -c 64 /dev/urandom | {strace} {program}"]);
            Assert.Contains("ioctl(3, RNDADDENTROPY", traced.Stderr, StringComparison.Ordinal);
            Assert.Matches(@"ioctl\(3, RNDRESEEDCRNG\)\s*= 0", traced.Stderr);
        }
    }

    [SkippableFact]
    public async Task DamagedTemplate_FallsBackToAColdBootSaysWhyAndIsReplaced()
    {
        SandboxTestHost.RequireEngine();
        const int memory = 232;
        var made = await StartAsync(new InstanceSpec { Args = ["true"] }, memory);
        Assert.Equal(0, (await WaitAsync(made)).ExitCode);
        var template = Assert.Single(TemplatesOf(memory));

        // A state file that no longer matches its checksum: not used; a new template is made at once.
        var state = Path.Combine(template.Directory, GuestTemplate.StateFileName);
        var bytes = await File.ReadAllBytesAsync(state);
        bytes[bytes.Length / 2] ^= 0xff;
        await File.WriteAllBytesAsync(state, bytes);
        var replaced = await StartAsync(new InstanceSpec { Args = ["echo", "ok"] }, memory);
        Assert.Equal(0, (await WaitAsync(replaced)).ExitCode);
        Assert.Equal("ok\n", SandboxTestHost.Stream(replaced, "stdout"));
        Assert.Contains("the previous template was discarded: its device state file does not match", How(replaced), StringComparison.Ordinal);
        template = Assert.Single(TemplatesOf(memory));

        // Damage the checksum cannot see (the state rewritten with its checksum): QEMU refuses it, the start boots cold.
        var garbage = new byte[4096];
        Random.Shared.NextBytes(garbage);
        await File.WriteAllBytesAsync(state, garbage);
        var manifest = Path.Combine(template.Directory, SandboxTemplateStore.ManifestFileName);
        var info = JsonSerializer.Deserialize<JsonElement>(await File.ReadAllTextAsync(manifest));
        var rewritten = (await File.ReadAllTextAsync(manifest)).Replace(info.GetProperty("stateSha256").GetString()!,
            Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(garbage)), StringComparison.Ordinal);
        await File.WriteAllTextAsync(manifest, rewritten);
        var cold = await StartAsync(new InstanceSpec { Args = ["echo", "cold"] }, memory);
        var exit = await WaitAsync(cold);
        Assert.True(exit.ExitCode == 0, exit.Reason);
        Assert.Equal("cold\n", SandboxTestHost.Stream(cold, "stdout"));
        Assert.StartsWith("cold boot: the start from template", How(cold), StringComparison.Ordinal);
        Assert.Contains("the template was discarded", How(cold), StringComparison.Ordinal);
        Assert.Empty(TemplatesOf(memory));

        // The next start makes a new one and starts from it.
        var again = await StartAsync(new InstanceSpec { Args = ["echo", "again"] }, memory);
        Assert.Equal(0, (await WaitAsync(again)).ExitCode);
        Assert.Equal("again\n", SandboxTestHost.Stream(again, "stdout"));
        Assert.Contains("made by this start", How(again), StringComparison.Ordinal);
        Assert.Single(TemplatesOf(memory));
    }

    [SkippableFact]
    public async Task StartFromATemplate_HasNoBalloonDriver_SoItsFreedPagesNeverReachTheTemplateFile()
    {
        SandboxTestHost.RequireEngine();
        const int memory = 216;
        var made = await StartAsync(new InstanceSpec { Args = ["true"] }, memory);
        Assert.Equal(0, (await WaitAsync(made)).ExitCode);
        var template = Assert.Single(TemplatesOf(memory));
        Assert.True(File.Exists(Path.Combine(template.Directory, GuestTemplate.KernelSetupFileName)));
        var file = Path.Combine(template.Directory, GuestTemplate.MemoryFileName);
        var before = await MemoryFileAsync(file);

        // The clone writes and frees 48 MiB of page cache and waits past the 2 s after which a reporting guest reports.
        var clone = await StartAsync(new InstanceSpec { Args = ["sh", "-c", "head -c 50331648 /dev/zero > /big; rm /big; sync; echo 3 > /proc/sys/vm/drop_caches; sleep 4; grep -c '^virtio_balloon ' /proc/modules"] }, memory);
        var exit = await WaitAsync(clone);
        Assert.StartsWith("template ", How(clone), StringComparison.Ordinal);
        Assert.Equal("0\n", SandboxTestHost.Stream(clone, "stdout"));
        Assert.Equal(1, exit.ExitCode); // grep's "no match"
        Assert.Equal(before, await MemoryFileAsync(file));
    }

    /// <summary>The template memory file's allocated blocks and content hash.</summary>
    private static async Task<string> MemoryFileAsync(string file)
    {
        var du = await Strata.Contracts.Host.HostTool.RunAsync("du", ["--block-size=1", file]);
        await using var f = File.OpenRead(file);
        return du.Stdout.Split('\t')[0] + " " + Convert.ToHexStringLower(await System.Security.Cryptography.SHA256.HashDataAsync(f));
    }

    [SkippableFact]
    public async Task NoTemplate_BootsColdAndSaysSo()
    {
        SandboxTestHost.RequireEngine();
        // A cold-booted guest keeps its balloon driver: the device offers free-page reporting (feature bit 5) and the guest took it.
        var handle = await StartAsync(new InstanceSpec { Args = ["sh", "-c", "echo cold; cat /sys/bus/virtio/drivers/virtio_balloon/virtio*/features"], NoTemplate = true }, 240);
        Assert.Equal(0, (await WaitAsync(handle)).ExitCode);
        var lines = SandboxTestHost.Stream(handle, "stdout").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("cold", lines[0]);
        Assert.Equal('1', Assert.Single(lines[1..])[5]);
        Assert.Equal("cold boot: asked for (--no-template)", How(handle));
        Assert.Empty(TemplatesOf(240));
    }

    public void Dispose()
    {
        foreach (var handle in _started)
        {
            try
            {
                _driver.KillAsync(handle, 9, CancellationToken.None).GetAwaiter().GetResult();
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
