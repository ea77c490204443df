using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Strata.Contracts;
using Strata.Contracts.Host;
using Strata.Node.Drivers.Vm;
using Strata.Node.Logs;
using Strata.Qemu.Templates;
using Strata.Testing;

namespace Strata.Vm.Tests;

/// <summary>
/// The vm tier's booted templates (docs/vm.md#templates) on real QEMU: clones with their own hostname, randomness and
/// disk, live resize of a clone leaving the template untouched, a new template for a new memory size, and the fall back
/// to a cold boot when a template is damaged. One driver for the class (its tests run one after another), the shared
/// cache of the vm tests (initramfs, base disks, templates).
/// </summary>
public sealed class VmTemplateTests : IAsyncLifetime
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(240);
    private VmDriver _driver = null!;

    public async Task InitializeAsync() => _driver = await VmFixture.CreateDriverAsync();

    public Task DisposeAsync()
    {
        _driver.Dispose();
        return Task.CompletedTask;
    }

    private static string TemplateNote(VmInstance vm) => vm.Handle.Data.TryGetValue("template", out var note) ? note : "(no template note)";

    private static string KeyOf(string note) => note.StartsWith("template ", StringComparison.Ordinal) ? note["template ".Length..].Split(' ')[0] : "";

    private string TemplateDir(string key) => Path.Combine(VmFixture.CacheDirectory, "vm-templates", key);

    private static string Stdout(VmInstance vm) =>
        string.Concat(CriLogReader.ReadTail(LogFiles.LogDirectory(vm.Directory), null).Where(r => r.Stream == "stdout").Select(r => r.Text + "\n"));

    private static string Sha256(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }

    [SkippableFact]
    public async Task TwoVms_FromOneTemplate_HaveTheirOwnHostnameRandomnessAndDisk_AndResizeLeavesTheTemplateByteIdentical()
    {
        VmFixture.RequireEngine();
        await using var a = await VmInstance.CreateAsync(_driver, VmFixture.Busybox(GuestShell.Workload));
        await using var b = await VmInstance.CreateAsync(_driver, VmFixture.Busybox(GuestShell.Workload));
        await a.StartAsync();
        await b.StartAsync();
        var key = KeyOf(TemplateNote(a));
        Assert.True(key.Length == 32, TemplateNote(a));
        Assert.Equal(key, KeyOf(TemplateNote(b)));
        Assert.DoesNotContain("made by this start", TemplateNote(b), StringComparison.Ordinal);
        var state = Path.Combine(TemplateDir(key), GuestTemplate.StateFileName);
        var stateSha = Sha256(state);
        var manifest = File.ReadAllText(Path.Combine(TemplateDir(key), "template.json"));
        Assert.True(JsonNode.Parse(manifest)!["ramInState"]!.GetValue<bool>());

        await using var shellA = await GuestShell.ConnectAsync(VmDriver.ExecSocket(a.Handle), Budget);
        await using var shellB = await GuestShell.ConnectAsync(VmDriver.ExecSocket(b.Handle), Budget);
        Assert.Equal("vm-" + a.Handle.InstanceId[..6], (await shellA.RunAsync("hostname", Budget)).Trim());
        Assert.Equal("vm-" + b.Handle.InstanceId[..6], (await shellB.RunAsync("hostname", Budget)).Trim());
        var randomA = await shellA.RunAsync("head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'");
        var randomB = await shellB.RunAsync("head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'");
        Assert.Equal(64, randomA.Trim().Length);
        Assert.NotEqual(randomA, randomB);
        // The clock is the host's, not the save's.
        var guestNow = long.Parse((await shellA.RunAsync("date +%s")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(guestNow, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 120, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 5);

        // A file written in one clone is in neither the other clone nor the image's base disk.
        Assert.Equal("", (await shellA.RunAsync("echo secret-of-a > /vmtpl24-a && sync")).Trim());
        Assert.Contains("secret-of-a", await shellA.RunAsync("cat /vmtpl24-a"), StringComparison.Ordinal);
        Assert.Contains("No such file", await shellB.RunAsync("cat /vmtpl24-a"), StringComparison.Ordinal);
        var baseDisk = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(a.Directory, "vm.json"))).RootElement.GetProperty("baseDisk").GetString()!;
        if (TestEnvironment.Which("debugfs") is not null)
        {
            var ls = (await HostTool.RunAsync("debugfs", ["-R", "ls /", baseDisk], new HostToolOptions { Timeout = TimeSpan.FromSeconds(30) }, CancellationToken.None)).Stdout;
            Assert.DoesNotContain("vmtpl24-a", ls, StringComparison.Ordinal);
            Assert.Contains("bin", ls, StringComparison.Ordinal);
        }

        // Live resize of a clone: the balloon takes memory back, and the template does not change by a byte.
        var before = MemTotalKiB(await shellA.RunAsync("cat /proc/meminfo"));
        await _driver.ResizeAsync(a.Handle, 160L * 1024 * 1024, null, CancellationToken.None);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        long after;
        while ((after = MemTotalKiB(await shellA.RunAsync("cat /proc/meminfo"))) > before - 64 * 1024 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }
        Assert.True(after <= before - 64 * 1024, $"MemTotal went from {before} KiB to {after} KiB; the balloon should have taken ~96 MiB");
        // The guest frees and rewrites memory under the balloon; the template is still what was saved.
        await shellA.RunAsync("dd if=/dev/zero of=/dev/null bs=1M count=32");
        Assert.Equal(stateSha, Sha256(state));
        Assert.Equal(manifest, File.ReadAllText(Path.Combine(TemplateDir(key), "template.json")));
        Assert.Equal([GuestTemplate.KernelSetupFileName, GuestTemplate.StateFileName, "template.json"], Directory.GetFiles(TemplateDir(key)).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray());
    }

    [SkippableFact]
    public async Task MemorySize_MakesItsOwnTemplate_AndNoTemplateBootsCold()
    {
        VmFixture.RequireEngine();
        await using var small = await VmInstance.CreateAsync(_driver, VmFixture.Busybox("sh", "-c", "echo small $(hostname); exit 4")
            with { Resources = new ResourceSpec { MemoryBytes = 200L * 1024 * 1024 } });
        await small.StartAsync();
        Assert.Equal(4, (await small.WaitAsync(Budget)).ExitCode);
        Assert.Contains("small vm-", Stdout(small), StringComparison.Ordinal);
        var smallKey = KeyOf(TemplateNote(small));
        Assert.True(smallKey.Length == 32, TemplateNote(small));
        Assert.Equal(200, JsonNode.Parse(File.ReadAllText(Path.Combine(TemplateDir(smallKey), "template.json")))!["memoryMiB"]!.GetValue<int>());

        await using var normal = await VmInstance.CreateAsync(_driver, VmFixture.Busybox("true"));
        await normal.StartAsync();
        Assert.Equal(0, (await normal.WaitAsync(Budget)).ExitCode);
        var normalKey = KeyOf(TemplateNote(normal));
        Assert.True(normalKey.Length == 32, TemplateNote(normal));
        Assert.NotEqual(smallKey, normalKey);

        // A restart of a VM that is not disposable runs on a disk the template never saw: a cold boot, saying so.
        await normal.StartAsync();
        Assert.Equal(0, (await normal.WaitAsync(Budget)).ExitCode);
        Assert.StartsWith("cold boot: the VM's disk holds what its earlier runs wrote", TemplateNote(normal), StringComparison.Ordinal);

        await using var cold = await VmInstance.CreateAsync(_driver, VmFixture.Busybox("sh", "-c", "echo cold-ok") with { NoTemplate = true });
        await cold.StartAsync();
        Assert.Equal(0, (await cold.WaitAsync(Budget)).ExitCode);
        Assert.Equal("cold boot: asked for (--no-template)", TemplateNote(cold));
        Assert.Contains("cold-ok", Stdout(cold), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task DamagedTemplate_BootsColdWithTheReason_AndIsReplaced_AndAnUnfinishedSaveIsNeverUsed()
    {
        VmFixture.RequireEngine();
        // A disposable VM starts from the template at every start: three starts, three kinds of damage. Its memory size
        // is its own, so no other test of the project (they run in parallel on the same cache) uses this template.
        await using var vm = await VmInstance.CreateAsync(_driver, VmFixture.Busybox("sh", "-c", "cat /seen 2>/dev/null; echo run > /seen; echo done")
            with { Disposable = true, Resources = new ResourceSpec { MemoryBytes = 224L * 1024 * 1024 } });
        await vm.StartAsync();
        Assert.Equal(0, (await vm.WaitAsync(Budget)).ExitCode);
        var key = KeyOf(TemplateNote(vm));
        Assert.True(key.Length == 32, TemplateNote(vm));
        var dir = TemplateDir(key);

        // 1. A state QEMU refuses (its checksum made to match): the restore fails, the VM boots cold, says why, and the
        //    template is gone.
        var manifestPath = Path.Combine(dir, "template.json");
        var statePath = Path.Combine(dir, GuestTemplate.StateFileName);
        await File.WriteAllBytesAsync(statePath, RandomNumberGenerator.GetBytes(4096));
        var manifest = JsonNode.Parse(File.ReadAllText(manifestPath))!;
        manifest["stateSha256"] = Sha256(statePath);
        File.WriteAllText(manifestPath, manifest.ToJsonString());
        await vm.StartAsync();
        Assert.Equal(0, (await vm.WaitAsync(Budget)).ExitCode);
        Assert.StartsWith($"cold boot: the start from template {key} failed", TemplateNote(vm), StringComparison.Ordinal);
        Assert.Contains("the template was discarded", TemplateNote(vm), StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir));
        Assert.DoesNotContain("run", Stdout(vm).Replace("done", "", StringComparison.Ordinal), StringComparison.Ordinal);

        // 2. The next start makes a new one (the disk is fresh again: nothing of the earlier runs).
        await vm.StartAsync();
        Assert.Equal(0, (await vm.WaitAsync(Budget)).ExitCode);
        Assert.Equal($"template {key} (made by this start)", TemplateNote(vm));

        // 3. A flipped byte: the checksum catches it before QEMU sees it; this start replaces it at once. A save a killed
        //    daemon left unfinished (.tmp-*) is removed by the next store, never read.
        var bytes = await File.ReadAllBytesAsync(statePath);
        bytes[bytes.Length / 2] ^= 0xff;
        await File.WriteAllBytesAsync(statePath, bytes);
        var unfinished = Path.Combine(VmFixture.CacheDirectory, "vm-templates", $".tmp-{key[..8]}-1-vmtpl24");
        Directory.CreateDirectory(unfinished);
        File.WriteAllText(Path.Combine(unfinished, GuestTemplate.StateFileName), "half a save");
        using var restarted = await VmFixture.CreateDriverAsync();
        vm.Handle = await restarted.StartAsync(vm.Handle, CancellationToken.None);
        using (var cts = new CancellationTokenSource(Budget))
        {
            Assert.Equal(0, (await restarted.WaitAsync(vm.Handle, cts.Token)).ExitCode);
        }
        Assert.StartsWith($"template {key} (made by this start) (the previous template was discarded: its device state file does not match", TemplateNote(vm), StringComparison.Ordinal);
        Assert.False(Directory.Exists(unfinished));
        Assert.Equal(ManifestSha(dir), Sha256(statePath));
        Assert.DoesNotContain("run", Stdout(vm).Replace("done", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    private static string ManifestSha(string dir) => JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "template.json")))!["stateSha256"]!.GetValue<string>();

    private static long MemTotalKiB(string meminfo) =>
        long.Parse(meminfo.Split('\n').First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>The template key without an engine: every input that shapes the saved guest changes it.</summary>
public sealed class VmTemplateKeyTests
{
    [Fact]
    public void Key_ChangesWithEveryInputThatShapesTheGuest()
    {
        var config = new VmConfig
        {
            Kind = VmKinds.Oci, MemoryMiB = 256, Cpus = 1, MaxCpus = 4, Accel = "tcg", KernelPath = "/boot/none", InitrdPath = "/none.cpio.gz",
            BaseDisk = "/none.ext4", ImageId = "sha256:aa", SetupPort = true, GuestWords = "strata.root=/dev/vda",
        };
        const string head = "console=ttyS0 quiet panic=-1 reboot=t tsc_early_khz=1000";
        var network = new Strata.Qemu.GuestNetwork("tap0", "02:00:00:00:00:01", "10.0.0.2", 24, null);
        var key = VmDriver.TemplateKey(config, head, null);
        Assert.Equal(key, VmDriver.TemplateKey(config with { GuestWords = "strata.root=/dev/vda strata.hostname=other" }, head, null));
        var changed = new[]
        {
            VmDriver.TemplateKey(config, head, null, Strata.Qemu.Guest.GuestInit.Version + 1),
            VmDriver.TemplateKey(config with { MemoryMiB = 257 }, head, null),
            VmDriver.TemplateKey(config with { Cpus = 2 }, head, null),
            VmDriver.TemplateKey(config with { MaxCpus = 8 }, head, null),
            VmDriver.TemplateKey(config with { Accel = "kvm" }, head, null),
            VmDriver.TemplateKey(config with { Accel = "kvm", CpuModel = "Haswell" }, head, null),
            VmDriver.TemplateKey(config with { Machine = "q35" }, head, null),
            VmDriver.TemplateKey(config with { ImageId = "sha256:bb" }, head, null),
            VmDriver.TemplateKey(config with { BaseDisk = "/other.ext4" }, head, null),
            VmDriver.TemplateKey(config with { KernelPath = "/boot/other" }, head, null),
            VmDriver.TemplateKey(config with { InitrdPath = "/other.cpio.gz" }, head, null),
            VmDriver.TemplateKey(config, head.Replace("1000", "2000", StringComparison.Ordinal), null),
            VmDriver.TemplateKey(config, head, network),
            VmDriver.TemplateKey(config, head, network with { NamesDisk = "/names.img" }),
        };
        Assert.DoesNotContain(key, changed);
        Assert.Equal(changed.Length, changed.Distinct(StringComparer.Ordinal).Count());
    }
}
