using Strata.Contracts;
using Strata.Policy.Advisor;

namespace Strata.Policy.Tests.Advisor;

/// <summary>
/// Properties over the whole requirement space. The space is small enough to enumerate, so these
/// check every combination (under several hosts and projects) instead of a random sample.
/// </summary>
public sealed class TierAdvisorPropertyTests
{
    private static readonly IsolationNeed[] Isolations = [IsolationNeed.None, IsolationNeed.Standard, IsolationNeed.Strong];

    /// <summary>Every combination except isolation (the isolation property varies it itself).</summary>
    private static IEnumerable<(Requirements Req, ImageKind Image)> Space()
    {
        foreach (var image in Enum.GetValues<ImageKind>())
        foreach (var os in new[] { "linux", "windows" })
        foreach (var arch in new string?[] { null, "arm64" })
        foreach (var fullOs in new[] { false, true })
        foreach (var ownKernel in new[] { false, true })
        foreach (var modules in new[] { Array.Empty<string>(), ["overlay"] })
        foreach (var drivers in new[] { false, true })
        foreach (var trust in Enum.GetValues<TrustLevel>())
        foreach (var hardware in Enum.GetValues<HardwareNeed>())
        foreach (var gpus in new[] { 0, 1 })
        foreach (var stateful in new[] { false, true })
        foreach (var budget in new TimeSpan?[] { null, TimeSpan.FromMilliseconds(100) })
        {
            yield return (new Requirements
            {
                Os = os, Arch = arch, FullOs = fullOs, OwnKernel = ownKernel, KernelModules = modules,
                SpecialDrivers = drivers, Trust = trust, Hardware = hardware, Gpus = gpus,
                StatefulSnapshots = stateful, StartupBudget = budget,
            }, image);
        }
    }

    /// <summary>Hosts and projects the properties must hold under.</summary>
    private static IEnumerable<(string Name, Func<ImageKind, AdvisorContext> Context)> Hosts()
    {
        yield return ("every tier", image => TestHost.Context(image));
        yield return ("no sandbox", image => TestHost.Context(image, [Tier.Sandbox]));
        yield return ("no container, no sandbox", image => TestHost.Context(image, [Tier.Container, Tier.Sandbox]));
        yield return ("only process and container", image => TestHost.Context(image, [Tier.Wasm, Tier.Sandbox, Tier.Vm]));
        yield return ("project: untrusted on vm", image => TestHost.Context(image, project: new() { Name = "p", MinimumTierForUntrusted = Tier.Vm }));
        yield return ("project: everything allowed, wasm for untrusted", image => TestHost.Context(image, project: new()
        {
            Name = "p",
            MinimumTierForUntrusted = Tier.Wasm,
            AllowedTiers = new HashSet<Tier>(TierRank.Ordered),
        }));
        yield return ("project: container and vm", image => TestHost.Context(image, project: new() { Name = "p", AllowedTiers = new HashSet<Tier> { Tier.Container, Tier.Vm } }));
    }

    [Fact]
    public void Decide_RaisingIsolation_NeverYieldsAWeakerTier()
    {
        var checkedPairs = 0;
        foreach (var (hostName, host) in Hosts())
        {
            foreach (var (req, image) in Space())
            {
                var context = host(image);
                var results = Isolations.Select(i => TierAdvisor.Evaluate(req with { Isolation = i }, context)).ToArray();
                for (var low = 0; low < results.Length; low++)
                {
                    for (var high = low + 1; high < results.Length; high++)
                    {
                        var (a, b) = (results[low], results[high]);
                        if (a.Succeeded && b.Succeeded)
                        {
                            checkedPairs++;
                            Assert.True(TierRank.Of(b.Advice!.Chosen) >= TierRank.Of(a.Advice!.Chosen),
                                $"{hostName}: isolation {Isolations[low]} → {a.Advice.Chosen} but {Isolations[high]} → {b.Advice.Chosen} for {req} ({image})");
                        }
                        // More isolation cannot make a host-side problem go away (only a contradiction of 'none' can).
                        if (!a.Succeeded && a.Problem!.Kind != AdviceProblemKind.Contradiction)
                        {
                            Assert.False(b.Succeeded, $"{hostName}: {Isolations[low]} failed ({a.Problem.Message}) but {Isolations[high]} succeeded for {req}");
                        }
                    }
                }
            }
        }
        Assert.True(checkedPairs > 10_000, $"only {checkedPairs} pairs had advice on both sides");
    }

    [Fact]
    public void Decide_Untrusted_NeverYieldsProcessOrContainer()
    {
        var advised = 0;
        foreach (var (hostName, host) in Hosts())
        {
            foreach (var (req, image) in Space().Where(s => s.Req.Trust == TrustLevel.Untrusted))
            {
                foreach (var isolation in Isolations)
                {
                    var result = TierAdvisor.Evaluate(req with { Isolation = isolation }, host(image));
                    if (result.Advice is { } advice)
                    {
                        advised++;
                        Assert.True(advice.Chosen is not (Tier.Process or Tier.Container), $"{hostName}: untrusted got {advice.Chosen} for {req}");
                        Assert.True(TierRank.Of(advice.Chosen) >= TierRank.Of(Tier.Wasm));
                    }
                }
            }
        }
        Assert.True(advised > 1_000, $"only {advised} untrusted workloads got advice");
    }

    [Fact]
    public void Decide_UntrustedWithoutProjectOverride_NeverSharesAKernel()
    {
        foreach (var (req, image) in Space().Where(s => s.Req.Trust == TrustLevel.Untrusted))
        {
            var result = TierAdvisor.Evaluate(req, TestHost.Context(image));
            if (result.Advice is { } advice)
            {
                Assert.True(advice.Chosen is Tier.Sandbox or Tier.Vm, $"untrusted got {advice.Chosen} for {req}");
            }
        }
    }

    [Fact]
    public void Decide_AnyAdvice_SatisfiesEveryRuleIsAvailableAndFallsBackOnlyUpwards()
    {
        foreach (var (hostName, host) in Hosts())
        {
            foreach (var (req, image) in Space())
            {
                foreach (var isolation in Isolations)
                {
                    var r = req with { Isolation = isolation };
                    var context = host(image);
                    var result = TierAdvisor.Evaluate(r, context);
                    if (result.Advice is not { } advice)
                    {
                        Assert.False(string.IsNullOrWhiteSpace(result.Problem!.Message));
                        continue;
                    }
                    Assert.Empty(TierAdvisor.Violations(r, context, advice.Chosen));
                    Assert.True(context.Tiers[advice.Chosen].Available, $"{hostName}: chose unavailable {advice.Chosen}");
                    Assert.True(context.Project?.AllowedTiers?.Contains(advice.Chosen) ?? true);
                    if (r.StartupBudget is { } budget)
                    {
                        Assert.True(advice.Cost.StartLatency <= budget);
                    }
                    if (advice.Fallback is { } fallback)
                    {
                        Assert.True(TierRank.Of(fallback.Taken) > TierRank.Of(fallback.Ideal));
                        Assert.False(context.Tiers[fallback.Ideal].Available);
                    }
                    Assert.Equal(4, advice.RunnersUp.Count);
                    Assert.Equal(advice.Chosen == Tier.Vm && r.Hardware == HardwareNeed.Dedicated, advice.PinCpus);
                }
            }
        }
    }

    [Fact]
    public void Decide_SameInput_SameAdvice()
    {
        foreach (var (req, image) in Space().Take(2_000))
        {
            var a = TierAdvisor.Evaluate(req, TestHost.Context(image));
            var b = TierAdvisor.Evaluate(req with { KernelModules = [.. req.KernelModules] }, TestHost.Context(image));
            Assert.Equal(a.Advice?.Describe(), b.Advice?.Describe());
            Assert.Equal(a.Problem?.Message, b.Problem?.Message);
        }
    }
}
