using Strata.Contracts;
using Strata.Testing;

namespace Strata.DockerApi.Tests;

/// <summary>
/// tmpfs mounts (<c>--tmpfs</c> and <c>--mount type=tmpfs</c>) and <c>docker rename</c>, driven by both docker CLIs
/// on this host (28.x and Debian's 20.10) where installed.
/// </summary>
[Collection(DockerCollection.Name)]
public sealed class DockerMountAndRenameTests(DockerFixture fx)
{
    public static TheoryData<string> Clis => ["/usr/local/bin/docker", "/usr/bin/docker"];

    private void RequireCli(string cli)
    {
        fx.RequireEngine();
        Skip.If(!File.Exists(cli) && !TestEnvironment.IsCi, $"{cli} is not installed here");
    }

    [SkippableTheory]
    [MemberData(nameof(Clis))]
    public async Task Tmpfs_FlagAndMount_AreMemoryFileSystemsWithTheirOptions(string cli)
    {
        RequireCli(cli);
        // --tmpfs: Docker's defaults (noexec, nosuid, nodev), the size and mode given; writable on a read-only root.
        var flag = await fx.OkAsync(
            "run --rm --read-only --tmpfs /scratch:size=1m,mode=1770 busybox sh -c 'grep \" /scratch \" /proc/mounts; stat -c %a /scratch; echo data > /scratch/f && cat /scratch/f; touch /x 2>/dev/null || echo root-ro'",
            docker: cli);
        var lines = flag.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("tmpfs /scratch tmpfs rw,nosuid,nodev,noexec", lines[0]);
        Assert.Contains("size=1024k", lines[0]);
        Assert.Equal("1770", lines[1]);
        Assert.Equal("data", lines[2]);
        Assert.Equal("root-ro", lines[3]);

        // --mount type=tmpfs: exec allowed (Docker's default there), size from tmpfs-size, read-only when asked.
        var mount = await fx.OkAsync(
            "run --rm --mount type=tmpfs,destination=/m,tmpfs-size=2097152 --mount type=tmpfs,destination=/r,readonly busybox sh -c 'grep \" /m \" /proc/mounts; grep \" /r \" /proc/mounts; cp /bin/busybox /m/true && /m/true && echo ran'",
            docker: cli);
        Assert.Matches(@"tmpfs /m tmpfs rw,nosuid,nodev,relatime,size=2048k", mount);
        Assert.DoesNotContain("noexec", mount.Split('\n')[0]);
        Assert.Matches(@"tmpfs /r tmpfs ro,nosuid,nodev", mount);
        Assert.Contains("ran", mount);

        // Each start gets an empty tmpfs: what a run wrote there is gone at the next start.
        var name = fx.Name("tmpfs" + (cli.Contains("local", StringComparison.Ordinal) ? "28" : "20"));
        await fx.OkAsync($"run --name {name} --tmpfs /t busybox sh -c 'ls /t; touch /t/mark'", docker: cli);
        Assert.Equal("", await fx.OkAsync($"start -a {name}", docker: cli));
        await fx.OkAsync($"rm {name}", docker: cli);

        // Options Strata does not take are refused by name; nothing is created.
        var before = fx.Instances.List("default").Count;
        var (code, _, err) = await fx.RunAsync("run --rm --tmpfs /bad:nr_inodes=10 busybox true", docker: cli);
        Assert.Equal(125, code);
        Assert.Contains("HostConfig.Tmpfs[/bad]", err);
        Assert.Contains("nr_inodes=10", err);
        Assert.Equal(before, fx.Instances.List("default").Count);
    }

    [SkippableFact]
    public async Task Tmpfs_OnTheSandboxTier_IsAClearError()
    {
        fx.RequireEngine();
        if (!fx.Instances.Drivers.IsAvailable(Tier.Sandbox))
        {
            var reason = "the sandbox tier is not available here: " + fx.Instances.Drivers.Fingerprint(Tier.Sandbox).Reason;
            Assert.False(TestEnvironment.IsCi, reason);
            Skip.If(true, reason);
        }
        var before = fx.Instances.List("default").Count;
        var (code, _, err) = await fx.RunAsync("run --rm --runtime strata-sandbox --tmpfs /x busybox true");
        Assert.Equal(125, code);
        Assert.Contains("tmpfs", err);
        Assert.Contains("--tier container", err);
        Assert.Equal(before, fx.Instances.List("default").Count);
    }

    [SkippableTheory]
    [MemberData(nameof(Clis))]
    public async Task Rename_MovesTheNameEverywhere_AndRefusesATakenOne(string cli)
    {
        RequireCli(cli);
        var tag = cli.Contains("local", StringComparison.Ordinal) ? "28" : "20";
        var network = fx.Name("rnet" + tag);
        var old = fx.Name("rold" + tag);
        var renamed = fx.Name("rnew" + tag);
        var peer = fx.Name("rpeer" + tag);
        await fx.OkAsync($"network create {network}", docker: cli);
        try
        {
            await fx.OkAsync($"run -d --name {old} --network {network} busybox sh -c 'mkdir -p /w && echo from-renamed > /w/index.html && exec httpd -f -p 80 -h /w'", docker: cli);
            await fx.OkAsync($"run -d --name {peer} --network {network} busybox sleep 300", docker: cli);

            // Another project's socket cannot see, let alone rename, the container.
            var (tenantCode, _, tenantErr) = await fx.RunAsync($"rename {old} {renamed}", fx.TenantSocket, docker: cli);
            Assert.NotEqual(0, tenantCode);
            Assert.Contains("No such container", tenantErr);

            // A name in use is a conflict and changes nothing.
            var (takenCode, _, takenErr) = await fx.RunAsync($"rename {old} {peer}", docker: cli);
            Assert.NotEqual(0, takenCode);
            Assert.Contains("already in use", takenErr);

            await fx.OkAsync($"rename {old} {renamed}", docker: cli);
            var names = await fx.OkAsync("ps -a --format '{{.Names}}'", docker: cli);
            Assert.Contains(renamed, names);
            Assert.DoesNotContain(old + "\n", names + "\n");
            Assert.Single(fx.Instances.List("default"), r => r.Name == renamed);
            Assert.DoesNotContain(fx.Instances.List("default"), r => r.Name == old);

            // Its network peers reach it by the new name; the old one is free again.
            var hosts = await fx.OkAsync($"exec {peer} cat /etc/hosts", docker: cli);
            Assert.Contains(renamed, hosts);
            Assert.DoesNotContain(old, hosts);
            Assert.Equal("from-renamed\n", await fx.OkAsync($"exec {peer} sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://{renamed}/ && exit 0; sleep 0.3; done; exit 1'", docker: cli));
            await fx.OkAsync($"create --name {old} busybox true", docker: cli);
            await fx.OkAsync($"rm {old}", docker: cli);
        }
        finally
        {
            await fx.RunAsync($"rm -f {old} {renamed} {peer}", docker: cli);
            await fx.RunAsync($"network rm {network}", docker: cli);
        }
    }
}
