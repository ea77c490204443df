using Strata.Contracts;
using Strata.Policy.Advisor;
using Strata.Policy.Workloads;

namespace Strata.Policy.Tests.Workloads;

/// <summary>The acceptance example: web service, Windows ERP, untrusted plugin, GPU trainer.</summary>
public sealed class MixedExampleTests
{
    private static IReadOnlyList<WorkloadDefinition> Example() =>
        WorkloadFile.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "assets", "examples", "mixed.yaml")), "mixed.yaml").GetOrThrow();

    [Fact]
    public void Decide_MixedExample_ContainerVmSandboxVmWithReasons()
    {
        var workloads = Example();
        var advice = workloads.Select(w => TierAdvisor.Decide(w, TestHost.Context() with { Image = null, ImageKind = null })).ToList();

        Assert.Equal(["web", "erp", "plugin", "trainer"], workloads.Select(w => w.Name));
        Assert.Equal([Tier.Container, Tier.Vm, Tier.Sandbox, Tier.Vm], advice.Select(a => a.Chosen));

        Assert.Contains("ordinary container", advice[0].Reasons[^1].Text);
        Assert.Contains(advice[1].Reasons, r => r.RuleId == "R1-foreign-os");
        Assert.Contains(advice[1].Reasons, r => r.RuleId == "R6-full-os");
        Assert.Contains(advice[1].Reasons, r => r.RuleId == "R7-disk-image");
        Assert.Contains(advice[2].Reasons, r => r.RuleId == "R8-untrusted");
        Assert.Contains(advice[3].Reasons, r => r.RuleId == "R11-dedicated-hardware" && r.Text.Contains("1 GPU"));
        Assert.True(advice[3].PinCpus);
        Assert.All(advice, a => Assert.Null(a.Fallback));
    }

    [Fact]
    public void Decide_MixedExampleWithoutSandbox_PluginFallsBackToVm()
    {
        var plugin = Example().Single(w => w.Name == "plugin");

        var advice = TierAdvisor.Decide(plugin, TestHost.Context(unavailable: [Tier.Sandbox]) with { Image = null, ImageKind = null });

        Assert.Equal(Tier.Vm, advice.Chosen);
        Assert.Equal(new Fallback(Tier.Sandbox, Tier.Vm, advice.Fallback!.Why), advice.Fallback);
    }

    [Fact]
    public void ToInstanceSpec_MixedExample_CarriesResources()
    {
        var web = Example()[0];

        var spec = web.ToInstanceSpec("container");

        Assert.Equal(64L << 20, spec.Resources!.MemoryBytes);
        Assert.Equal(0.5, spec.Resources.Cpus);
        Assert.Equal(64L, spec.Resources.Pids);
        Assert.Equal(["httpd", "-f", "-p", "8080"], spec.Command!);
    }
}
