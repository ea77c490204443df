using System.Diagnostics;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Drivers.Container;
using Strata.Node.Images;
using Strata.Node.Logs;
using Strata.Testing;

namespace Strata.Container.Tests;

/// <summary>
/// A busybox root filesystem (from the host's busybox-static), a temp data root and a real ContainerDriver.
/// Needs root, runc (or crun) and a published strata-supervisor; without them the tests fail under CI=true
/// and skip with the reason otherwise.
/// </summary>
public sealed class ContainerFixture : IAsyncLifetime
{
    public string Root { get; } = Directory.CreateTempSubdirectory("strata-ct-").FullName;
    public string Rootfs => Path.Combine(Root, "busybox");
    public string StateRoot => Path.Combine(Root, "oci");
    public string? Supervisor { get; private set; }
    public string? MissingReason { get; private set; }
    public ContainerDriver Driver { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Supervisor = TestEnvironment.Supervisor;
        var busybox = OciRuntime.StaticBusybox();
        MissingReason = Environment.UserName != "root" ? "the container tests need root"
            : Supervisor is null ? "strata-supervisor is not published; run scripts/publish-native.sh"
            : busybox is null ? "busybox-static is not installed (apt-get install busybox-static)"
            : OciRuntime.Which("runc") is null && OciRuntime.Which("crun") is null ? "no OCI runtime; apt-get install runc"
            : null;
        if (MissingReason is not null)
        {
            return;
        }
        BusyboxRootfs.Build(busybox!, Rootfs);
        Driver = NewDriver();
        var fingerprint = await Driver.FingerprintAsync(CancellationToken.None);
        if (!fingerprint.Available)
        {
            MissingReason = fingerprint.Reason;
        }
    }

    public ContainerDriver NewDriver() => new(new ContainerDriverOptions { Supervisor = Supervisor, RuntimeStateRoot = StateRoot },
        new DirectoryImageResolver(new Dictionary<string, string> { ["busybox"] = Rootfs }));

    public void RequireEngine()
    {
        if (MissingReason is null)
        {
            return;
        }
        if (Environment.GetEnvironmentVariable("CI") == "true")
        {
            Assert.Fail(MissingReason);
        }
        Skip.If(true, MissingReason);
    }

    private int _counter;

    /// <summary>Creates (not starts) a container instance named <paramref name="name"/>.</summary>
    public async Task<DriverHandle> CreateAsync(string name, InstanceSpec spec, ContainerDriver? driver = null)
    {
        var id = $"t{Interlocked.Increment(ref _counter)}{Guid.NewGuid():N}"[..24];
        var dir = Path.Combine(Root, "instances", id);
        Directory.CreateDirectory(dir);
        return await (driver ?? Driver).CreateAsync(new CreateRequest
        {
            InstanceId = id,
            Name = name,
            Project = "default",
            Directory = dir,
            Spec = spec with { Name = name, Image = spec.Image ?? "busybox", Tier = "container" },
        }, CancellationToken.None);
    }

    /// <summary>Runs a container to completion; returns its exit and its output (stdout and stderr, in order).</summary>
    public async Task<(ExitStatus Exit, string Output, DriverHandle Handle)> RunAsync(string name, InstanceSpec spec, TimeSpan? timeout = null)
    {
        var handle = await CreateAsync(name, spec);
        handle = await Driver.StartAsync(handle, CancellationToken.None);
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        var exit = await Driver.WaitAsync(handle, cts.Token);
        var output = string.Join("\n", CriLogReader.ReadTail(LogFiles.LogDirectory(handle.Directory), null).Select(r => r.Text));
        return (exit, output, handle);
    }

    public async Task DisposeAsync()
    {
        if (Driver is not null)
        {
            foreach (var dir in Directory.Exists(Path.Combine(Root, "instances")) ? Directory.GetDirectories(Path.Combine(Root, "instances")) : [])
            {
                var id = Path.GetFileName(dir);
                var handle = new DriverHandle
                {
                    InstanceId = id,
                    Directory = dir,
                    Data = new Dictionary<string, string> { ["cgroups"] = "", ["layers"] = Rootfs },
                };
                try
                {
                    await Driver.DeleteAsync(handle, CancellationToken.None);
                }
                catch (Exception)
                {
                    // best effort cleanup of a failed test
                }
            }
            Driver.Dispose();
        }
        // Daemons started by tests under Root leave their containers' rootfs mounted (workloads outlive a daemon by
        // design): detach every mount below Root, deepest first, or each test run would leak them.
        var below = Root.TrimEnd('/') + "/";
        foreach (var mountPoint in File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4])
                     .Where(m => m.StartsWith(below, StringComparison.Ordinal)).OrderByDescending(m => m.Length))
        {
            using var umount = Process.Start("umount", ["-l", mountPoint]);
            await umount.WaitForExitAsync();
        }
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ContainerCollection : ICollectionFixture<ContainerFixture>
{
    public const string Name = "container";
}
