using Strata.Contracts;
using Strata.Policy.Advisor;

namespace Strata.Policy.Tests.Advisor;

/// <summary>One row per rule: the rule fires, shows in the reasons, and moves the choice where the table says.</summary>
public sealed class TierAdvisorRuleTests
{
    public static TheoryData<string, Requirements, ImageKind, Tier, string[]> Rules => new()
    {
        { "R1-foreign-os", new() { Os = "windows" }, ImageKind.Oci, Tier.Vm, ["R1-foreign-os"] },
        { "R2-foreign-arch", new() { Arch = "arm64" }, ImageKind.Oci, Tier.Vm, ["R2-foreign-arch"] },
        { "R3-own-kernel", new() { OwnKernel = true }, ImageKind.Oci, Tier.Vm, ["R3-own-kernel"] },
        { "R4-kernel-modules", new() { KernelModules = ["wireguard"] }, ImageKind.Oci, Tier.Vm, ["R4-kernel-modules"] },
        { "R5-special-drivers", new() { SpecialDrivers = true }, ImageKind.Oci, Tier.Vm, ["R5-special-drivers"] },
        { "R6-full-os", new() { FullOs = true }, ImageKind.Oci, Tier.Vm, ["R6-full-os"] },
        { "R7-disk-image", new(), ImageKind.Disk, Tier.Vm, ["R7-disk-image"] },
        { "R8-untrusted", new() { Trust = TrustLevel.Untrusted }, ImageKind.Oci, Tier.Sandbox, ["R8-untrusted"] },
        { "R9-strong-isolation", new() { Isolation = IsolationNeed.Strong }, ImageKind.Oci, Tier.Sandbox, ["R9-strong-isolation"] },
        { "R10-wasm-module", new(), ImageKind.Wasm, Tier.Wasm, ["R10-wasm-module"] },
        { "R11-dedicated-hardware", new() { Hardware = HardwareNeed.Dedicated, Gpus = 1 }, ImageKind.Oci, Tier.Vm, ["R11-dedicated-hardware"] },
        { "R11 bare metal", new() { Hardware = HardwareNeed.Dedicated, Isolation = IsolationNeed.None }, ImageKind.None, Tier.Process, ["R11-dedicated-hardware", "R15-no-isolation", "R16-host-command"] },
        { "R12-shared-hardware", new() { Hardware = HardwareNeed.Shared, Gpus = 1 }, ImageKind.Oci, Tier.Container, ["R12-shared-hardware"] },
        { "R12 strong → vm", new() { Hardware = HardwareNeed.Shared, Isolation = IsolationNeed.Strong }, ImageKind.Oci, Tier.Vm, ["R12-shared-hardware", "R9-strong-isolation"] },
        { "R13-stateful-snapshots", new() { StatefulSnapshots = true }, ImageKind.Oci, Tier.Vm, ["R13-stateful-snapshots"] },
        { "R13 wasm keeps wasm", new() { StatefulSnapshots = true }, ImageKind.Wasm, Tier.Wasm, ["R13-stateful-snapshots", "R10-wasm-module"] },
        { "R14-standard-isolation", new(), ImageKind.Oci, Tier.Container, ["R14-standard-isolation", "R17-oci-image"] },
        { "R15-no-isolation", new() { Isolation = IsolationNeed.None }, ImageKind.None, Tier.Process, ["R15-no-isolation", "R16-host-command"] },
        { "R15 with an image", new() { Isolation = IsolationNeed.None }, ImageKind.Oci, Tier.Container, ["R15-no-isolation", "R17-oci-image"] },
        { "R16-host-command", new() { Isolation = IsolationNeed.None }, ImageKind.None, Tier.Process, ["R16-host-command"] },
        { "R17-oci-image", new(), ImageKind.Oci, Tier.Container, ["R17-oci-image"] },
        { "os casing and host spelling", new() { Os = "Linux", Arch = "amd64" }, ImageKind.Oci, Tier.Container, ["R17-oci-image"] },
    };

    [Theory]
    [MemberData(nameof(Rules))]
    public void Decide_RuleFires_ChoosesTheTableTierWithTheReason(string rule, Requirements req, ImageKind image, Tier expected, string[] firedIds)
    {
        var advice = TierAdvisor.Decide(req, TestHost.Context(image));

        Assert.True(expected == advice.Chosen, $"{rule}: expected {expected}, got {advice.Chosen}\n{advice.Describe()}");
        foreach (var id in firedIds)
        {
            Assert.Contains(advice.Reasons, r => r.RuleId == id);
        }
        Assert.Equal(AdvisorRules.SelectionStepId, advice.Reasons.Where(r => r.RuleId != AdvisorRules.FallbackStepId).Last().RuleId);
        Assert.Null(advice.Fallback);
    }

    [Fact]
    public void Decide_EveryRuleInTheTable_IsCoveredByARow()
    {
        var covered = Rules.SelectMany(row => (string[])row[4]).ToHashSet();
        var missing = AdvisorRules.All.Select(r => r.Id).Where(id => !covered.Contains(id)).ToList();
        Assert.True(missing.Count == 0, $"rules without a row: {string.Join(", ", missing)}");
    }

    [Fact]
    public void Rules_Ids_AreUniqueAndOrdered()
    {
        var ids = AdvisorRules.All.Select(r => r.Id).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Equal(Enumerable.Range(1, ids.Count).Select(i => $"R{i}-"), ids.Select(id => id[..(id.IndexOf('-') + 1)]));
    }

    [Fact]
    public void Decide_ForeignOs_ExplainsWithHostAndArticle()
    {
        var advice = TierAdvisor.Decide(new Requirements { Os = "windows" }, TestHost.Context());

        var reason = Assert.Single(advice.Reasons, r => r.RuleId == "R1-foreign-os");
        Assert.Contains("windows", reason.Text);
        Assert.Contains("linux", reason.Text);
        Assert.Contains("article", reason.Text);
    }

    [Fact]
    public void Decide_DedicatedHardwareOnVm_PinsCpus()
    {
        var advice = TierAdvisor.Decide(new Requirements { Hardware = HardwareNeed.Dedicated }, TestHost.Context());

        Assert.Equal(Tier.Vm, advice.Chosen);
        Assert.True(advice.PinCpus);
    }

    [Fact]
    public void Decide_DedicatedHardwareOnBareMetal_DoesNotPin()
    {
        var advice = TierAdvisor.Decide(new Requirements { Hardware = HardwareNeed.Dedicated, Isolation = IsolationNeed.None }, TestHost.Context(ImageKind.None));

        Assert.Equal(Tier.Process, advice.Chosen);
        Assert.False(advice.PinCpus);
    }

    [Fact]
    public void Decide_SharedHardwareWithoutDedicated_DoesNotPin()
    {
        var advice = TierAdvisor.Decide(new Requirements { Hardware = HardwareNeed.Shared, Isolation = IsolationNeed.Strong }, TestHost.Context());

        Assert.Equal(Tier.Vm, advice.Chosen);
        Assert.False(advice.PinCpus);
    }

    [Fact]
    public void Decide_ProjectMinimumForUntrustedVm_RaisesSandboxToVm()
    {
        var project = new ProjectOverrides { Name = "finance", MinimumTierForUntrusted = Tier.Vm };

        var advice = TierAdvisor.Decide(new Requirements { Trust = TrustLevel.Untrusted }, TestHost.Context(project: project));

        Assert.Equal(Tier.Vm, advice.Chosen);
        Assert.Contains(advice.Reasons, r => r.RuleId == "R8-untrusted" && r.Text.Contains("finance"));
    }

    [Fact]
    public void Decide_ProjectAcceptsWasmForUntrusted_UntrustedModuleRunsOnWasm()
    {
        var project = new ProjectOverrides { Name = "plugins", MinimumTierForUntrusted = Tier.Wasm };

        var advice = TierAdvisor.Decide(new Requirements { Trust = TrustLevel.Untrusted }, TestHost.Context(ImageKind.Wasm, project: project));

        Assert.Equal(Tier.Wasm, advice.Chosen);
    }

    [Theory]
    [InlineData(Tier.Process)]
    [InlineData(Tier.Container)]
    public void Evaluate_ProjectMinimumBelowTheFloor_IsRejected(Tier minimum)
    {
        var project = new ProjectOverrides { Name = "lax", MinimumTierForUntrusted = minimum };

        var error = Assert.Throws<StrataException>(() => TierAdvisor.Evaluate(new Requirements(), TestHost.Context(project: project)));

        Assert.Equal(ErrorKind.InvalidArgument, error.Kind);
        Assert.Contains("never runs on process or container", error.Message);
    }

    [Fact]
    public void Decide_ProjectAllowsProcessAndContainerOnly_UntrustedStillNeverGetsThem()
    {
        var project = new ProjectOverrides { Name = "open", AllowedTiers = new HashSet<Tier> { Tier.Process, Tier.Container } };

        var problem = TestHost.Problem(new Requirements { Trust = TrustLevel.Untrusted }, TestHost.Context(project: project));

        Assert.Equal(AdviceProblemKind.NotAllowed, problem.Kind);
        Assert.Contains("project open allows only process, container", problem.Message);
        Assert.Contains("sandbox", problem.Message);
        Assert.Equal(ErrorKind.Forbidden, problem.ToException().Kind);
    }

    [Fact]
    public void Decide_ProjectForbidsContainer_TakesSandboxAndSaysSo()
    {
        var project = new ProjectOverrides { Name = "strict", AllowedTiers = new HashSet<Tier> { Tier.Sandbox, Tier.Vm } };

        var advice = TierAdvisor.Decide(new Requirements(), TestHost.Context(project: project));

        Assert.Equal(Tier.Sandbox, advice.Chosen);
        Assert.Contains(advice.Reasons, r => r.RuleId == AdvisorRules.ProjectStepId && r.Text.Contains("container"));
        Assert.Contains(advice.RunnersUp, r => r.Tier == Tier.Container && r.WhyNot.StartsWith(AdvisorRules.ProjectStepId, StringComparison.Ordinal));
    }

    [Fact]
    public void Decide_RunnersUp_ListEveryOtherTierWithCostAndWhyNot()
    {
        var costs = new Dictionary<Tier, TierCost> { [Tier.Sandbox] = TierCost.Measured(TimeSpan.FromMilliseconds(3700), "TCG") };

        var advice = TierAdvisor.Decide(new Requirements(), TestHost.Context(costs: costs));

        Assert.Equal(Tier.Container, advice.Chosen);
        Assert.Equal([Tier.Sandbox, Tier.Vm, Tier.Process, Tier.Wasm], advice.RunnersUp.Select(r => r.Tier));
        var sandbox = advice.RunnersUp[0];
        Assert.True(sandbox.Viable);
        Assert.Equal("3.7 s (measured on this host, TCG)", sandbox.Cost.ToString());
        Assert.Equal("~4 s (documented class)", advice.RunnersUp[1].Cost.ToString());
        var process = advice.RunnersUp[2];
        Assert.False(process.Viable);
        Assert.StartsWith("R14-standard-isolation", process.WhyNot, StringComparison.Ordinal);
        Assert.StartsWith("R17-oci-image", advice.RunnersUp[3].WhyNot, StringComparison.Ordinal);
        Assert.Equal("~50 ms (documented class)", advice.Cost.ToString());
    }

    [Fact]
    public void Decide_NoMeasurementWithKvm_UsesTheKvmClassForSandbox()
    {
        Assert.Equal(TimeSpan.FromSeconds(1), TestHost.Context(accelerated: true).CostOf(Tier.Sandbox).StartLatency);
        Assert.Equal(TimeSpan.FromSeconds(4), TestHost.Context(accelerated: false).CostOf(Tier.Sandbox).StartLatency);
    }

    [Fact]
    public void Describe_WindowsErp_ShowsTierReasonsAndRunnersUp()
    {
        var text = TierAdvisor.Decide(new Requirements { Os = "windows", FullOs = true }, TestHost.Context(ImageKind.Disk)).Describe();

        Assert.StartsWith("tier: vm", text, StringComparison.Ordinal);
        Assert.Contains("[R1-foreign-os]", text);
        Assert.Contains("[R6-full-os]", text);
        Assert.Contains("runners-up:", text);
    }

    [Fact]
    public void Violations_PinnedTierBreaksRules_NamesThem()
    {
        var violations = TierAdvisor.Violations(new Requirements { Os = "windows", Trust = TrustLevel.Untrusted }, TestHost.Context(), Tier.Container);

        Assert.Equal(["R1-foreign-os", "R8-untrusted"], violations.Select(v => v.RuleId));
        Assert.Empty(TierAdvisor.Violations(new Requirements { Os = "windows" }, TestHost.Context(), Tier.Vm));
    }
}
