using Strata.Contracts;
using Strata.Testing;

namespace Strata.DockerApi.Tests;

/// <summary>
/// What the docs claim and the other tests did not cover: <c>ps --filter status=…</c>, <c>kill</c> with and without
/// <c>--signal</c>, and the vm and auto tiers picked by <c>--runtime</c> and by the label <c>io.strata.tier</c>.
/// </summary>
[Collection(DockerCollection.Name)]
public sealed class DockerLifecycleTests(DockerFixture fx)
{
    public static TheoryData<string> Clis => ["/usr/local/bin/docker", "/usr/bin/docker"];

    private void RequireCli(string cli)
    {
        fx.RequireEngine();
        Assert.False(!File.Exists(cli) && TestEnvironment.IsCi, $"{cli} is not installed (scripts/deps/docker-api.txt)");
        Skip.If(!File.Exists(cli), $"{cli} is not installed here");
    }

    [SkippableTheory]
    [MemberData(nameof(Clis))]
    public async Task Kill_WithSignal_ReachesTheTrap_WithoutIt_KillsAndPsFiltersByStatus(string cli)
    {
        RequireCli(cli);
        var name = fx.Name("kill" + (cli.Contains("local") ? "n" : "d"));
        var idle = fx.Name("idle" + (cli.Contains("local") ? "n" : "d"));
        await fx.OkAsync($"run -d --name {name} busybox sh -c 'trap \"echo got-usr1\" USR1; echo ready; while true; do sleep 0.1; done'", docker: cli);
        await fx.OkAsync($"run -d --name {idle} busybox sleep 300", docker: cli);
        try
        {
            Assert.True(await TestEnvironment.EventuallyAsync(() => fx.OkAsync($"logs {name}", docker: cli).GetAwaiter().GetResult().Contains("ready"), TimeSpan.FromSeconds(20)));
            await fx.OkAsync($"kill --signal USR1 {name}", docker: cli);
            var logs = "";
            Assert.True(await TestEnvironment.EventuallyAsync(() =>
            {
                logs = fx.OkAsync($"logs {name}", docker: cli).GetAwaiter().GetResult();
                return logs.Contains("got-usr1");
            }, TimeSpan.FromSeconds(20)), logs);
            // The trap handled it: still running.
            Assert.Equal("true", (await fx.OkAsync($"inspect -f '{{{{.State.Running}}}}' {name}", docker: cli)).Trim());
            var running = await fx.OkAsync("ps --filter status=running --format '{{.Names}}'", docker: cli);
            Assert.Contains(name, running);
            Assert.Contains(idle, running);

            await fx.OkAsync($"kill {name}", docker: cli); // SIGKILL by default
            Assert.Equal("137", (await fx.OkAsync($"wait {name}", docker: cli)).Trim());
            Assert.Equal("false 137", (await fx.OkAsync($"inspect -f '{{{{.State.Running}}}} {{{{.State.ExitCode}}}}' {name}", docker: cli)).Trim());

            var exited = await fx.OkAsync("ps -a --filter status=exited --format '{{.Names}}'", docker: cli);
            Assert.Contains(name, exited);
            Assert.DoesNotContain(idle, exited);
            running = await fx.OkAsync("ps --filter status=running --format '{{.Names}}'", docker: cli);
            Assert.DoesNotContain(name, running);
            Assert.Contains(idle, running);
            // Without -a, ps shows running containers only; the killed one is exited.
            Assert.DoesNotContain(name, await fx.OkAsync("ps --format '{{.Names}}'", docker: cli));

            // A signal Docker does not know is a clear error; the container is untouched.
            var (code, _, err) = await fx.RunAsync($"kill --signal NOSUCHSIG {idle}", docker: cli);
            Assert.NotEqual(0, code);
            Assert.Contains("NOSUCHSIG", err);
            Assert.Equal("true", (await fx.OkAsync($"inspect -f '{{{{.State.Running}}}}' {idle}", docker: cli)).Trim());
        }
        finally
        {
            await fx.RunAsync($"rm -f {name} {idle}");
        }
    }

    [SkippableFact]
    public async Task RuntimeStrataVm_AndTheTierLabel_RunOnTheVmTier()
    {
        fx.RequireEngine();
        RequireTier(Tier.Vm);
        var name = fx.Name("vm");
        try
        {
            var kernel = (await fx.OkAsync($"run --name {name} --runtime strata-vm busybox uname -r")).Trim();
            Assert.NotEmpty(kernel);
            Assert.NotEqual(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), kernel); // the guest's kernel
            Assert.Equal(Tier.Vm, fx.Instances.Get("default", name).Tier);
            Assert.Equal("strata-vm", (await fx.OkAsync($"inspect -f '{{{{.HostConfig.Runtime}}}}' {name}")).Trim());
            // The label picks the same tier; both given and different is refused by name, creating nothing.
            var (code, _, err) = await fx.RunAsync($"create --runtime strata-vm --label io.strata.tier=sandbox busybox true");
            Assert.NotEqual(0, code);
            Assert.Contains("io.strata.tier", err);
            var labelled = fx.Name("vml");
            await fx.OkAsync($"create --name {labelled} --label io.strata.tier=vm busybox true");
            Assert.Equal(Tier.Vm, fx.Instances.Get("default", labelled).Tier);
            await fx.OkAsync($"rm {labelled}");
        }
        finally
        {
            await fx.RunAsync($"rm -f {name}");
        }
    }

    [SkippableFact]
    public async Task RuntimeStrataAuto_RunsOnTheTierPlacementPicks()
    {
        fx.RequireEngine();
        var name = fx.Name("auto");
        try
        {
            Assert.Equal("auto-ran\n", await fx.OkAsync($"run --name {name} --runtime strata-auto busybox echo auto-ran"));
            var tier = fx.Instances.Get("default", name).Tier;
            Assert.True(fx.Instances.Drivers.IsAvailable(tier), $"auto placed it on {tier}, which is not available");
            var expected = tier switch { Tier.Sandbox => "strata-sandbox", Tier.Vm => "strata-vm", _ => "runc" };
            Assert.Equal(expected, (await fx.OkAsync($"inspect -f '{{{{.HostConfig.Runtime}}}}' {name}")).Trim());
            var labelled = fx.Name("autol");
            await fx.OkAsync($"create --name {labelled} --label io.strata.tier=auto busybox true");
            Assert.True(fx.Instances.Drivers.IsAvailable(fx.Instances.Get("default", labelled).Tier));
            await fx.OkAsync($"rm {labelled}");
        }
        finally
        {
            await fx.RunAsync($"rm -f {name}");
        }
    }

    private void RequireTier(Tier tier)
    {
        if (!fx.Instances.Drivers.IsAvailable(tier))
        {
            var reason = $"the {tier} tier is not available here: " + fx.Instances.Drivers.Fingerprint(tier).Reason;
            Assert.False(TestEnvironment.IsCi, reason);
            Skip.If(true, reason);
        }
    }
}
