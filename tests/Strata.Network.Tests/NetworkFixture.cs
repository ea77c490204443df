using System.Diagnostics;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Drivers.Container;
using Strata.Node.Images;
using Strata.Node.Logs;
using Strata.Node.Networking;
using Strata.Testing;

namespace Strata.Network.Tests;

/// <summary>
/// A busybox root filesystem (the host's busybox-static), a temp data root, a NetworkRegistry whose bridges,
/// namespaces and subnets carry a per-run prefix (so runs never touch each other or a real daemon's networks),
/// and a real ContainerDriver. Needs root, runc, the CNI plugins and iptables; without them the tests fail
/// under CI=true and skip with the reason otherwise.
/// </summary>
public sealed class NetworkFixture : IAsyncLifetime
{
    private static readonly string s_tag = string.Concat(Enumerable.Range(0, 4).Select(_ => (char)('a' + Random.Shared.Next(26))));

    public string Root { get; } = Directory.CreateTempSubdirectory("strata-net-").FullName;
    public string Rootfs => Path.Combine(Root, "busybox");
    public string? Supervisor { get; private set; }
    public string? MissingReason { get; private set; }
    public ContainerDriver Driver { get; private set; } = null!;
    public NetworkRegistry Networks { get; private set; } = null!;

    /// <summary>Names every host object of this run starts with: bridges stn{tag}N, namespaces stn-{tag}-ID.</summary>
    public string BridgePrefix => "stn" + s_tag;
    public string NamespacePrefix => $"stn-{s_tag}-";

    public NetworkOptions Options => new()
    {
        StateDirectory = Path.Combine(Root, "networks"),
        DefaultNetwork = "testnet0",
        DefaultSubnet = "10.231.0.0/24",
        SubnetPool = "10.232.0.0/16",
        BridgePrefix = BridgePrefix,
        NamespacePrefix = NamespacePrefix,
    };

    public async Task InitializeAsync()
    {
        Supervisor = TestEnvironment.Supervisor;
        var busybox = OciRuntime.StaticBusybox();
        Networks = new NetworkRegistry(Options);
        MissingReason = Environment.UserName != "root" ? "the network tests need root"
            : Supervisor is null ? "strata-supervisor is not published; run scripts/publish-native.sh"
            : busybox is null ? "busybox-static is not installed (apt-get install busybox-static)"
            : OciRuntime.Which("runc") is null && OciRuntime.Which("crun") is null ? "no OCI runtime; apt-get install runc"
            : Networks.MissingReason();
        if (MissingReason is not null)
        {
            return;
        }
        BuildBusyboxRootfs(busybox!, Rootfs);
        Driver = new ContainerDriver(
            new ContainerDriverOptions { Supervisor = Supervisor, RuntimeStateRoot = Path.Combine(Root, "oci"), Networks = Networks },
            new DirectoryImageResolver(new Dictionary<string, string> { ["busybox"] = Rootfs }));
        var fingerprint = await Driver.FingerprintAsync(CancellationToken.None);
        if (!fingerprint.Available)
        {
            MissingReason = fingerprint.Reason;
        }
    }

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

    private static void BuildBusyboxRootfs(string busybox, string rootfs)
    {
        var bin = Path.Combine(rootfs, "bin");
        Directory.CreateDirectory(bin);
        foreach (var d in new[] { "proc", "sys", "dev", "tmp", "etc", "root" })
        {
            Directory.CreateDirectory(Path.Combine(rootfs, d));
        }
        File.Copy(busybox, Path.Combine(bin, "busybox"), overwrite: true);
        var list = Process.Start(new ProcessStartInfo(busybox, "--list") { RedirectStandardOutput = true })!;
        foreach (var applet in list.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (applet != "busybox")
            {
                File.CreateSymbolicLink(Path.Combine(bin, applet), "busybox");
            }
        }
        list.WaitForExit();
        File.WriteAllText(Path.Combine(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        File.WriteAllText(Path.Combine(rootfs, "etc/group"), "root:x:0:\n");
        File.WriteAllText(Path.Combine(rootfs, "etc/hosts"), "127.0.0.1\tlocalhost\n");
    }

    private int _counter;

    public async Task<DriverHandle> CreateAsync(string name, InstanceSpec spec, string project = "default")
    {
        var id = $"t{Interlocked.Increment(ref _counter)}{Guid.NewGuid():N}"[..24];
        var dir = Path.Combine(Root, "instances", id);
        Directory.CreateDirectory(dir);
        try
        {
            return await Driver.CreateAsync(new CreateRequest
            {
                InstanceId = id,
                Name = name,
                Project = project,
                Directory = dir,
                Spec = spec with { Name = name, Image = spec.Image ?? "busybox", Tier = "container" },
            }, CancellationToken.None);
        }
        catch
        {
            Directory.Delete(dir, recursive: true);
            throw;
        }
    }

    public async Task<DriverHandle> StartAsync(string name, InstanceSpec spec, string project = "default") =>
        await Driver.StartAsync(await CreateAsync(name, spec, project), CancellationToken.None);

    /// <summary>Runs a container to completion; returns its exit code and output.</summary>
    public async Task<(int Code, string Output)> RunAsync(string name, InstanceSpec spec, string project = "default")
    {
        var handle = await StartAsync(name, spec, project);
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var exit = await Driver.WaitAsync(handle, cts.Token);
            var output = string.Join("\n", CriLogReader.ReadTail(LogFiles.LogDirectory(handle.Directory), null).Select(r => r.Text));
            return (exit.ExitCode, output);
        }
        finally
        {
            await RemoveAsync(handle);
        }
    }

    public async Task RemoveAsync(DriverHandle handle)
    {
        await Driver.StopAsync(handle, TimeSpan.Zero, CancellationToken.None);
        if (handle.SupervisorPid is not null)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await Driver.WaitAsync(handle, cts.Token);
        }
        await Driver.DeleteAsync(handle, CancellationToken.None);
        Directory.Delete(handle.Directory, recursive: true);
    }

    public async Task DisposeAsync()
    {
        if (Driver is not null)
        {
            foreach (var dir in Directory.Exists(Path.Combine(Root, "instances")) ? Directory.GetDirectories(Path.Combine(Root, "instances")) : [])
            {
                try
                {
                    await Driver.DeleteAsync(new DriverHandle { InstanceId = Path.GetFileName(dir), Directory = dir, Data = new Dictionary<string, string> { ["layers"] = Rootfs } }, CancellationToken.None);
                }
                catch (Exception)
                {
                    // best effort cleanup of a failed test
                }
            }
            foreach (var n in Networks.List("default"))
            {
                try
                {
                    await Networks.RemoveAsync(n.Name, "default", CancellationToken.None);
                }
                catch (Exception)
                {
                }
            }
            Driver.Dispose();
        }
        Networks?.Dispose();
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
public sealed class NetworkCollection : ICollectionFixture<NetworkFixture>
{
    public const string Name = "network";
}
