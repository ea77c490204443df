using Strata.Contracts;
using Strata.Policy.Advisor;

namespace Strata.Policy.Tests.Advisor;

/// <summary>Every contradiction: an error naming the clashing requirements, whatever the host has.</summary>
public sealed class TierAdvisorContradictionTests
{
    public static TheoryData<string, Requirements, ImageKind, string, string[]> Contradictions => new()
    {
        { "untrusted without isolation", new() { Isolation = IsolationNeed.None, Trust = TrustLevel.Untrusted }, ImageKind.Oci, "X1-untrusted-without-isolation", ["requirements.isolation", "requirements.trust"] },
        { "gpus without hardware", new() { Gpus = 2 }, ImageKind.Oci, "X2-gpus-without-hardware", ["requirements.gpus", "requirements.hardware"] },
        { "wasm needing kernel modules", new() { KernelModules = ["kvm"] }, ImageKind.Wasm, AdvisorRules.ClashId, ["requirements.kernelModules", "image"] },
        { "wasm on windows", new() { Os = "windows" }, ImageKind.Wasm, AdvisorRules.ClashId, ["requirements.os", "image"] },
        { "wasm on a foreign arch", new() { Arch = "arm64" }, ImageKind.Wasm, AdvisorRules.ClashId, ["requirements.arch", "image"] },
        { "wasm with its own kernel", new() { OwnKernel = true }, ImageKind.Wasm, AdvisorRules.ClashId, ["requirements.ownKernel", "image"] },
        { "wasm with special drivers", new() { SpecialDrivers = true }, ImageKind.Wasm, AdvisorRules.ClashId, ["requirements.specialDrivers", "image"] },
        { "wasm as a full OS", new() { FullOs = true }, ImageKind.Wasm, AdvisorRules.ClashId, ["requirements.fullOs", "image"] },
        { "wasm with strong isolation", new() { Isolation = IsolationNeed.Strong }, ImageKind.Wasm, AdvisorRules.ClashId, ["requirements.isolation", "image"] },
        { "untrusted wasm (default project)", new() { Trust = TrustLevel.Untrusted }, ImageKind.Wasm, AdvisorRules.ClashId, ["requirements.trust", "image"] },
        { "wasm with dedicated hardware", new() { Hardware = HardwareNeed.Dedicated }, ImageKind.Wasm, AdvisorRules.ClashId, ["image", "requirements.hardware"] },
        { "wasm with shared hardware", new() { Hardware = HardwareNeed.Shared, Gpus = 1 }, ImageKind.Wasm, AdvisorRules.ClashId, ["image", "requirements.hardware"] },
        { "host command with standard isolation", new(), ImageKind.None, AdvisorRules.ClashId, ["requirements.isolation", "image"] },
        { "host command with strong isolation", new() { Isolation = IsolationNeed.Strong }, ImageKind.None, AdvisorRules.ClashId, ["requirements.isolation", "image"] },
        { "host command for untrusted code", new() { Trust = TrustLevel.Untrusted }, ImageKind.None, AdvisorRules.ClashId, ["requirements.trust", "image"] },
        { "host command on windows", new() { Os = "windows", Isolation = IsolationNeed.None }, ImageKind.None, AdvisorRules.ClashId, ["requirements.os", "image"] },
        { "host command with snapshots", new() { StatefulSnapshots = true, Isolation = IsolationNeed.None }, ImageKind.None, AdvisorRules.ClashId, ["requirements.statefulSnapshots", "image"] },
    };

    [Theory]
    [MemberData(nameof(Contradictions))]
    public void Evaluate_ClashingRequirements_NamesBothKeys(string scenario, Requirements req, ImageKind image, string id, string[] keys)
    {
        // A contradiction does not depend on the host: every tier available, or none, same answer.
        foreach (var context in new[] { TestHost.Context(image), TestHost.Context(image, TierRank.Ordered) })
        {
            var problem = TestHost.Problem(req, context);

            Assert.True(problem.Kind == AdviceProblemKind.Contradiction, $"{scenario}: {problem.Kind}: {problem.Message}");
            Assert.Equal(id, problem.RuleId);
            Assert.Equal(keys.Order(), problem.Keys.Order());
            foreach (var key in keys)
            {
                Assert.Contains(key, problem.Message);
            }
            Assert.Contains("clashes with", problem.Message);
            Assert.Equal(ErrorKind.InvalidArgument, problem.ToException().Kind);
        }
    }

    [Fact]
    public void Decide_WasmWithKernelModules_ThrowsAMessageThatSaysWhatToDo()
    {
        var error = Assert.Throws<StrataException>(() => TierAdvisor.Decide(new Requirements { KernelModules = ["overlay"] }, TestHost.Context(ImageKind.Wasm)));

        Assert.Equal(ErrorKind.InvalidArgument, error.Kind);
        Assert.Equal("requirements.kernelModules", error.Field);
        Assert.Contains("kernelModules: [overlay] needs vm", error.Message);
        Assert.Contains("hello.wasm (a Wasm module) needs wasm", error.Message);
        Assert.Contains("package it in an OCI image", error.Message);
    }

    [Fact]
    public void Decide_UntrustedWasm_PointsAtTheProjectSetting()
    {
        var problem = TestHost.Problem(new Requirements { Trust = TrustLevel.Untrusted }, TestHost.Context(ImageKind.Wasm));

        Assert.Contains("minimumTierForUntrusted to wasm", problem.Message);
    }

    [Fact]
    public void Decide_HostCommandWithDefaultIsolation_SaysHowToFixEitherWay()
    {
        var problem = TestHost.Problem(new Requirements(), TestHost.Context(ImageKind.None));

        Assert.Contains("give it an image", problem.Message);
        Assert.Contains("isolation: none", problem.Message);
    }

    [Fact]
    public void Decide_IsolationNoneWithUntrusted_SaysWhichRequirementsClash()
    {
        var error = Assert.Throws<StrataException>(() => TierAdvisor.Decide(
            new Requirements { Isolation = IsolationNeed.None, Trust = TrustLevel.Untrusted }, TestHost.Context()));

        Assert.StartsWith("requirements.isolation clashes with requirements.trust", error.Message, StringComparison.Ordinal);
    }
}
