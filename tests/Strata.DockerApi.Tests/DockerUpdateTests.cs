using Strata.Client;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.DockerApi.Tests;

/// <summary>
/// <c>docker update --memory --cpus</c> as Strata's live resize, driven by both docker CLIs on this host (28.x and
/// Debian's 20.10) where installed: the running container's cgroups change in place (read inside the container),
/// <c>inspect</c> shows the new limits, options Strata does not change are refused by name, and another project's
/// socket finds no such container.
/// </summary>
[Collection(DockerCollection.Name)]
public sealed class DockerUpdateTests(DockerFixture fx)
{
    public static TheoryData<string> Clis => ["/usr/local/bin/docker", "/usr/bin/docker"];

    [SkippableTheory]
    [MemberData(nameof(Clis))]
    public async Task Update_MemoryAndAFractionOfACore_ChangeTheRunningContainersCgroups_OtherOptionsAreRefused(string cli)
    {
        fx.RequireEngine();
        Skip.If(!File.Exists(cli) && !TestEnvironment.IsCi, $"{cli} is not installed here");
        var name = fx.Name("update" + (cli.Contains("local", StringComparison.Ordinal) ? "28" : "20"));
        await fx.OkAsync($"run -d --name {name} --memory 128m busybox sleep 600", docker: cli);
        try
        {
            // The memory limit is on Strata's memory cgroup of the container (the runtime's sits below it).
            using var strata = new StrataClient(new ClientOptions { Socket = fx.Socket });
            var memoryLimit = Path.Combine((await strata.GetAsync(name)).Details!["memoryCgroup"], "memory.limit_in_bytes");
            Assert.Equal("134217728", File.ReadAllText(memoryLimit).Trim());

            await fx.OkAsync($"update --memory 64m --memory-swap 64m --cpus 0.5 {name}", docker: cli);
            Assert.Equal("67108864", File.ReadAllText(memoryLimit).Trim());
            Assert.Equal("50000 100000", (await fx.OkAsync($"exec {name} sh -c 'echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)'", docker: cli)).Trim());
            Assert.Equal("67108864 500000000", (await fx.OkAsync($"inspect -f '{{{{.HostConfig.Memory}}}} {{{{.HostConfig.NanoCpus}}}}' {name}", docker: cli)).Trim());
            Assert.Equal("running", fx.Instances.Get("default", name).State.ToName());

            // --cpus alone leaves the memory as it is; kept in the spec, so a restart keeps both.
            await fx.OkAsync($"update --cpus 0.25 {name}", docker: cli);
            await fx.OkAsync($"restart -t 1 {name}", docker: cli);
            Assert.Equal("25000", (await fx.OkAsync($"exec {name} cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us", docker: cli)).Trim());
            Assert.Equal("67108864", File.ReadAllText(memoryLimit).Trim());

            // What Strata does not change is refused by name, and nothing changes.
            foreach (var (flags, field) in new[] { ("--pids-limit 10", "PidsLimit"), ("--restart always", "RestartPolicy"), ("--memory 64m --memory-swap 256m", "MemorySwap") })
            {
                var (code, _, err) = await fx.RunAsync($"update {flags} {name}", docker: cli);
                Assert.NotEqual(0, code);
                Assert.Contains(field, err, StringComparison.Ordinal);
            }
            var nothing = await fx.RunAsync($"update --cpus 0.001 {name}", docker: cli);
            Assert.NotEqual(0, nothing.Code);
            Assert.Equal("25000", (await fx.OkAsync($"exec {name} cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us", docker: cli)).Trim());

            // Another project's socket: no such container, and its limits stay.
            var (tenantCode, _, tenantErr) = await fx.RunAsync($"update --memory 32m {name}", fx.TenantSocket, docker: cli);
            Assert.NotEqual(0, tenantCode);
            Assert.Contains("No such container", tenantErr, StringComparison.OrdinalIgnoreCase);
            Assert.Equal(64L << 20, fx.Instances.Get("default", name).Spec.Resources!.MemoryBytes);
            Assert.Equal(0.25, fx.Instances.Get("default", name).Spec.Resources!.Cpus!.Value, 6);
        }
        finally
        {
            await fx.RunAsync($"rm -f {name}", docker: cli);
        }
    }
}
