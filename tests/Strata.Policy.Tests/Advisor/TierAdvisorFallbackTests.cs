using Strata.Contracts;
using Strata.Policy.Advisor;

namespace Strata.Policy.Tests.Advisor;

/// <summary>Every fallback (ideal tier unavailable here) and every "nothing fits here" outcome.</summary>
public sealed class TierAdvisorFallbackTests
{
    public static TheoryData<string, Requirements, ImageKind, Tier[], Tier, Tier> Fallbacks => new()
    {
        { "untrusted, no sandbox → vm", new() { Trust = TrustLevel.Untrusted }, ImageKind.Oci, [Tier.Sandbox], Tier.Sandbox, Tier.Vm },
        { "strong, no sandbox → vm", new() { Isolation = IsolationNeed.Strong }, ImageKind.Oci, [Tier.Sandbox], Tier.Sandbox, Tier.Vm },
        { "no container → sandbox", new(), ImageKind.Oci, [Tier.Container], Tier.Container, Tier.Sandbox },
        { "no container, no sandbox → vm", new(), ImageKind.Oci, [Tier.Container, Tier.Sandbox], Tier.Container, Tier.Vm },
        { "shared hardware, no container → vm", new() { Hardware = HardwareNeed.Shared }, ImageKind.Oci, [Tier.Container], Tier.Container, Tier.Vm },
        { "bare metal, no process → vm", new() { Hardware = HardwareNeed.Dedicated, Isolation = IsolationNeed.None }, ImageKind.None, [Tier.Process], Tier.Process, Tier.Vm },
    };

    [Theory]
    [MemberData(nameof(Fallbacks))]
    public void Decide_IdealTierUnavailable_FallsBackToTheNextFittingTier(string scenario, Requirements req, ImageKind image, Tier[] down, Tier ideal, Tier taken)
    {
        // The bare-metal row has no image: the process tier is the only one that runs it, so the
        // fallback only exists when vm could run it too (dedicated hardware with a disk is a VM case).
        if (image == ImageKind.None && down.Contains(Tier.Process))
        {
            var problem = TestHost.Problem(req, TestHost.Context(image, down));
            Assert.Equal(AdviceProblemKind.Unavailable, problem.Kind);
            Assert.Contains("process: process engine not installed", problem.Message);
            return;
        }

        var advice = TierAdvisor.Decide(req, TestHost.Context(image, down));

        Assert.True(taken == advice.Chosen, $"{scenario}: expected {taken}, got {advice.Chosen}");
        Assert.NotNull(advice.Fallback);
        Assert.Equal(ideal, advice.Fallback.Ideal);
        Assert.Equal(taken, advice.Fallback.Taken);
        Assert.Contains($"{ideal.ToName()} engine not installed", advice.Fallback.Why);
        Assert.Contains(advice.Reasons, r => r.RuleId == AdvisorRules.FallbackStepId);
        Assert.Contains(advice.RunnersUp, r => r.Tier == ideal && !r.Viable && r.WhyNot.StartsWith(AdvisorRules.AvailabilityStepId, StringComparison.Ordinal));
    }

    [Fact]
    public void Decide_SandboxFallbackToVm_CitesTheArticle()
    {
        var advice = TierAdvisor.Decide(new Requirements { Trust = TrustLevel.Untrusted }, TestHost.Context(unavailable: [Tier.Sandbox]));

        Assert.Contains("article §4", advice.Fallback!.Why);
    }

    [Fact]
    public void Decide_FallbackNeverWeakens_UntrustedWithSandboxAndVmDown_IsUnavailable()
    {
        var problem = TestHost.Problem(new Requirements { Trust = TrustLevel.Untrusted }, TestHost.Context(unavailable: [Tier.Sandbox, Tier.Vm]));

        Assert.Equal(AdviceProblemKind.Unavailable, problem.Kind);
        Assert.Contains("sandbox or vm", problem.Message);
        Assert.Contains("sandbox: sandbox engine not installed", problem.Message);
        Assert.Contains("vm: vm engine not installed", problem.Message);
        Assert.Equal(ErrorKind.Unavailable, problem.ToException().Kind);
    }

    [Fact]
    public void Decide_TierMissingFromContext_CountsAsUnavailable()
    {
        var context = TestHost.Context() with { Tiers = new Dictionary<Tier, TierAvailability>() };

        var problem = TestHost.Problem(new Requirements(), context);

        Assert.Contains("did not report", problem.Message);
    }

    [Fact]
    public void Decide_WasmUnavailable_IsUnavailableNotAWeakerTier()
    {
        var problem = TestHost.Problem(new Requirements(), TestHost.Context(ImageKind.Wasm, [Tier.Wasm]));

        Assert.Equal(AdviceProblemKind.Unavailable, problem.Kind);
    }

    [Fact]
    public void Decide_BudgetRulesOutSandbox_UntrustedTakesNothingWeaker()
    {
        var req = new Requirements { Trust = TrustLevel.Untrusted, StartupBudget = TimeSpan.FromMilliseconds(500) };

        var problem = TestHost.Problem(req, TestHost.Context());

        Assert.Equal(AdviceProblemKind.OverBudget, problem.Kind);
        Assert.Equal(["requirements.startupBudget"], problem.Keys);
        Assert.Contains("500 ms", problem.Message);
        Assert.Contains("sandbox starts in ~4 s (documented class, TCG)", problem.Message);
        Assert.Contains("raise startupBudget to at least 4 s", problem.Message);
    }

    [Fact]
    public void Decide_MeasuredSandboxWithinBudget_KeepsSandbox()
    {
        var costs = new Dictionary<Tier, TierCost> { [Tier.Sandbox] = TierCost.Measured(TimeSpan.FromMilliseconds(400)) };
        var req = new Requirements { Trust = TrustLevel.Untrusted, StartupBudget = TimeSpan.FromMilliseconds(500) };

        var advice = TierAdvisor.Decide(req, TestHost.Context(costs: costs));

        Assert.Equal(Tier.Sandbox, advice.Chosen);
        Assert.Contains(advice.Reasons, r => r.RuleId == AdvisorRules.BudgetStepId && r.Text.Contains("vm"));
        Assert.Contains(advice.RunnersUp, r => r.Tier == Tier.Vm && r.WhyNot.StartsWith(AdvisorRules.BudgetStepId, StringComparison.Ordinal));
    }

    [Fact]
    public void Decide_BudgetBelowContainer_IsAnErrorNamingTheFastestFit()
    {
        var req = new Requirements { StartupBudget = TimeSpan.FromMilliseconds(10) };

        var problem = TestHost.Problem(req, TestHost.Context());

        Assert.Equal(AdviceProblemKind.OverBudget, problem.Kind);
        Assert.Contains("at least 50 ms", problem.Message);
    }

    [Fact]
    public void Decide_BudgetRulesOutTheFallback_SaysBoth()
    {
        var costs = new Dictionary<Tier, TierCost> { [Tier.Sandbox] = TierCost.Measured(TimeSpan.FromMilliseconds(900)) };
        var req = new Requirements { Isolation = IsolationNeed.Strong, StartupBudget = TimeSpan.FromSeconds(1) };

        var problem = TestHost.Problem(req, TestHost.Context(unavailable: [Tier.Sandbox], costs: costs));

        Assert.Equal(AdviceProblemKind.Unavailable, problem.Kind);
        Assert.Contains("sandbox: sandbox engine not installed", problem.Message);
        Assert.Contains("vm would fit but start slower than the startup budget", problem.Message);
    }

    [Fact]
    public void Decide_ProcessBudget_AllowsTheHostCommand()
    {
        var req = new Requirements { Isolation = IsolationNeed.None, StartupBudget = TimeSpan.FromMilliseconds(1) };

        Assert.Equal(Tier.Process, TierAdvisor.Decide(req, TestHost.Context(ImageKind.None)).Chosen);
    }
}
