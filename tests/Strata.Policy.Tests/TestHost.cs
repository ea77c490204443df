using Strata.Contracts;
using Strata.Policy.Advisor;

namespace Strata.Policy.Tests;

/// <summary>Advisor contexts for tests: a Linux amd64 host with chosen tiers available.</summary>
internal static class TestHost
{
    public static AdvisorContext Context(
        ImageKind image = ImageKind.Oci,
        IEnumerable<Tier>? unavailable = null,
        ProjectOverrides? project = null,
        IReadOnlyDictionary<Tier, TierCost>? costs = null,
        bool accelerated = false)
    {
        var down = unavailable?.ToHashSet() ?? [];
        return new AdvisorContext
        {
            HostOs = "linux",
            HostArch = "x86_64",
            ImageKind = image,
            Image = image switch
            {
                ImageKind.Oci => "busybox",
                ImageKind.Wasm => "hello.wasm",
                ImageKind.Disk => "disk.qcow2",
                _ => null,
            },
            Tiers = TierRank.Ordered.ToDictionary(
                t => t,
                t => down.Contains(t)
                    ? new TierAvailability(t.ToName(), false, $"{t.ToName()} engine not installed", null)
                    : new TierAvailability(t.ToName(), true, "ok", null)),
            Costs = costs ?? new Dictionary<Tier, TierCost>(),
            HardwareAccelerated = accelerated,
            Project = project,
        };
    }

    public static AdviceProblem Problem(Requirements req, AdvisorContext context)
    {
        var result = TierAdvisor.Evaluate(req, context);
        Assert.False(result.Succeeded, $"expected no advice, got {result.Advice?.Chosen}");
        return result.Problem!;
    }
}
