using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Drivers.Sandbox;
using Strata.Testing;

namespace Strata.Sandbox.Tests;

/// <summary>
/// <c>-v</c> mounts on starts from a template (docs/sandbox.md#templates), with real QEMU and virtiofsd: the template has
/// empty PCIe slots, each restore plugs its own shares into them, and init turns the slots on and mounts them. Two
/// clones of one template each see only their own directories, and a read-only share stays read-only.
/// </summary>
public sealed class SandboxTemplateMountTests : IDisposable
{
    private static readonly TimeSpan BootBudget = TimeSpan.FromSeconds(180);
    private readonly TempDirectory _temp = new("strata-tplmnt");
    private readonly List<DriverHandle> _started = [];
    private readonly SandboxDriver _driver = SandboxTestHost.CreateDriver();

    private const string Probe = """
        cat /data/who; ls /data | tr '\n' ' '; echo
        cat /ro/ro.txt
        echo x > /ro/w 2>/dev/null && echo RO-WRITABLE
        mount -o remount,rw /ro 2>/dev/null; echo y > /ro/w2 2>/dev/null && echo RO-HOST-WRITABLE
        echo "written by $(cat /data/who)" > /data/out.txt
        grep -c virtiofs /proc/mounts
        sync
        """;

    private async Task<(DriverHandle Handle, string Data, string ReadOnly)> StartAsync(string who, int memoryMiB)
    {
        var data = _temp.Combine(who + "-data");
        var ro = _temp.Combine(who + "-ro");
        Directory.CreateDirectory(data);
        Directory.CreateDirectory(ro);
        await File.WriteAllTextAsync(Path.Combine(data, "who"), who + "\n");
        await File.WriteAllTextAsync(Path.Combine(data, "only-" + who), "");
        await File.WriteAllTextAsync(Path.Combine(ro, "ro.txt"), "ro of " + who + "\n");
        var handle = await SandboxTestHost.CreateAsync(_driver, _temp, new InstanceSpec
        {
            Tier = "sandbox",
            Image = "busybox",
            Resources = new ResourceSpec { MemoryBytes = memoryMiB * 1024L * 1024 },
            Mounts = [new MountSpec { Source = data, Target = "/data" }, new MountSpec { Source = ro, Target = "/ro", ReadOnly = true }],
            Args = ["sh", "-c", Probe],
        });
        handle = await _driver.StartAsync(handle, CancellationToken.None);
        _started.Add(handle);
        return (handle, data, ro);
    }

    private async Task<ExitStatus> WaitAsync(DriverHandle handle)
    {
        using var cts = new CancellationTokenSource(BootBudget);
        return await _driver.WaitAsync(handle, cts.Token);
    }

    private static string How(DriverHandle handle) => handle.Data[SandboxDriver.TemplateDataKey];

    [SkippableFact]
    public async Task TwoStartsFromOneTemplate_EachMountsOnlyItsOwnShares_AndReadOnlyHolds()
    {
        SandboxTestHost.RequireEngine();
        TestEnvironment.Require(Strata.Qemu.VirtioFsDaemon.Locate() is not null, "virtiofsd is not installed (apt-get install qemu-system-common)");
        const int memory = 248; // its own size, so its own template (SandboxTemplateTests uses 200-240)
        var a = await StartAsync("alpha", memory);
        var exitA = await WaitAsync(a.Handle);
        var b = await StartAsync("bravo", memory);
        var exitB = await WaitAsync(b.Handle);

        var outA = SandboxTestHost.Stream(a.Handle, "stdout");
        var outB = SandboxTestHost.Stream(b.Handle, "stdout");
        Assert.True(exitA.ExitCode == 0, $"{exitA.Reason}; {outA}; {SandboxTestHost.Stream(a.Handle, "stderr")}; {How(a.Handle)}");
        Assert.True(exitB.ExitCode == 0, $"{exitB.Reason}; {outB}; {SandboxTestHost.Stream(b.Handle, "stderr")}; {How(b.Handle)}");
        // Both from one template: the first made it, the second restored it; neither booted cold.
        Assert.True(How(a.Handle).StartsWith("template ", StringComparison.Ordinal), How(a.Handle));
        Assert.True(How(b.Handle).StartsWith("template ", StringComparison.Ordinal), How(b.Handle));
        Assert.Contains("made by this start", How(a.Handle), StringComparison.Ordinal);
        Assert.DoesNotContain("made by this start", How(b.Handle), StringComparison.Ordinal);
        Assert.Equal(How(a.Handle).Split(' ')[1], How(b.Handle).Split(' ')[1]);
        // Each sees its own shares only.
        Assert.Equal("alpha\nonly-alpha who \nro of alpha\n2\n", outA);
        Assert.Equal("bravo\nonly-bravo who \nro of bravo\n2\n", outB);
        Assert.Equal("written by alpha\n", await File.ReadAllTextAsync(Path.Combine(a.Data, "out.txt")));
        Assert.Equal("written by bravo\n", await File.ReadAllTextAsync(Path.Combine(b.Data, "out.txt")));
        // Read-only holds, even after the guest's root remounts it read-write.
        Assert.Equal(["ro.txt"], Directory.GetFiles(a.ReadOnly).Select(Path.GetFileName));
        Assert.Equal(["ro.txt"], Directory.GetFiles(b.ReadOnly).Select(Path.GetFileName));
        // The private copy of the template's memory is gone once QEMU runs.
        Assert.False(File.Exists(SandboxDriver.MemoryCopyPath(a.Handle)));
        Assert.False(File.Exists(SandboxDriver.MemoryCopyPath(b.Handle)));
    }

    public void Dispose()
    {
        foreach (var handle in _started)
        {
            try
            {
                _driver.KillAsync(handle, 9, CancellationToken.None).GetAwaiter().GetResult();
                _driver.DeleteAsync(handle, CancellationToken.None).GetAwaiter().GetResult();
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
