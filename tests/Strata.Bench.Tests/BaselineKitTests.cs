using System.Text.Json.Nodes;
using Strata.Bench.Core;
using Strata.Testing;

namespace Strata.Bench.Tests;

/// <summary>The raw-runtime bundle of the P1 comparison: Strata's own config.json, re-rooted ("same flags").</summary>
public sealed class BaselineKitTests : IAsyncLifetime
{
    private BaselineKit _kit = null!;

    public Task InitializeAsync()
    {
        _kit = new BaselineKit(null, "t1");
        _kit.BuildRootfs(TestBusybox());
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _kit.DisposeAsync();

    private static string TestBusybox() => File.Exists("/bin/busybox") ? "/bin/busybox" : "/usr/bin/busybox";

    private static string StrataConfig(params JsonObject[] extraMounts) => new JsonObject
    {
        ["ociVersion"] = "1.0.2",
        ["process"] = new JsonObject { ["terminal"] = false, ["args"] = new JsonArray("echo", "bench"), ["noNewPrivileges"] = true },
        ["root"] = new JsonObject { ["path"] = "/var/lib/strata/instances/abc/rootfs", ["readonly"] = false },
        ["mounts"] = new JsonArray([new JsonObject { ["destination"] = "/proc", ["type"] = "proc", ["source"] = "proc" }, .. extraMounts]),
        ["linux"] = new JsonObject
        {
            ["cgroupsPath"] = "/strata/abc",
            ["seccomp"] = new JsonObject { ["defaultAction"] = "SCMP_ACT_ERRNO" },
            ["resources"] = new JsonObject { ["pids"] = new JsonObject { ["limit"] = 2048 } },
        },
    }.ToJsonString();

    [SkippableFact]
    public void PrepareBundleFrom_StrataConfig_KeepsEverySettingButTheRootAndTheCgroupName()
    {
        TestEnvironment.Require(File.Exists(TestBusybox()), "busybox is not installed (Debian: busybox-static)");

        _kit.PrepareBundleFrom(StrataConfig());

        var written = JsonNode.Parse(File.ReadAllText(Path.Combine(_kit.Bundle!, "config.json")))!;
        Assert.Equal(_kit.Rootfs, written["root"]!["path"]!.GetValue<string>());
        Assert.Equal("/strata/strata-bench-t1", written["linux"]!["cgroupsPath"]!.GetValue<string>());
        Assert.Equal("SCMP_ACT_ERRNO", written["linux"]!["seccomp"]!["defaultAction"]!.GetValue<string>());
        Assert.Equal(2048, written["linux"]!["resources"]!["pids"]!["limit"]!.GetValue<int>());
        Assert.True(written["process"]!["noNewPrivileges"]!.GetValue<bool>());
        Assert.Equal(["echo", "bench"], written["process"]!["args"]!.AsArray().Select(a => a!.GetValue<string>()));
    }

    [SkippableFact]
    public void PrepareBundleFrom_ConfigWithAHostBindMount_IsRefusedAndWritesNothing()
    {
        TestEnvironment.Require(File.Exists(TestBusybox()), "busybox is not installed (Debian: busybox-static)");
        var hosts = new JsonObject { ["destination"] = "/etc/hosts", ["type"] = "bind", ["source"] = "/var/lib/strata/networks/n/hosts" };

        var e = Assert.Throws<InvalidOperationException>(() => _kit.PrepareBundleFrom(StrataConfig(hosts)));

        Assert.Contains("/var/lib/strata/networks/n/hosts", e.Message);
        Assert.Null(_kit.Bundle);
    }
}
