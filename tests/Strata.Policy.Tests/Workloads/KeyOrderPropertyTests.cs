using System.Text;
using Strata.Policy.Advisor;
using Strata.Policy.Workloads;

namespace Strata.Policy.Tests.Workloads;

/// <summary>The decision does not depend on the order of keys (nor on YAML vs JSON).</summary>
public sealed class KeyOrderPropertyTests
{
    private static readonly string[] Images = ["busybox", "plugin.wasm", "erp.qcow2"];

    [Fact]
    public void Decide_ShuffledKeys_SameWorkloadAndSameDecision()
    {
        var random = new Random(20240611);
        for (var i = 0; i < 300; i++)
        {
            var (top, requirements, resources) = RandomWorkload(random);
            var reference = Decision(Render(top, requirements, resources));
            for (var shuffle = 0; shuffle < 5; shuffle++)
            {
                var text = Render(Shuffle(top, random), Shuffle(requirements, random), Shuffle(resources, random));
                Assert.Equal(reference, Decision(text));
                Assert.Equal(reference, Decision(RenderJson(Shuffle(top, random), Shuffle(requirements, random), Shuffle(resources, random))));
            }
        }
    }

    private static string Decision(string text)
    {
        var workload = Assert.Single(WorkloadFile.Parse(text, "w").GetOrThrow());
        var result = TierAdvisor.Evaluate(workload.Requirements, TestHost.Context() with { Image = workload.Image, ImageKind = null });
        return WorkloadFileTests.Canonical(workload) + " => " + (result.Advice?.Describe() ?? result.Problem!.Message);
    }

    private static (List<(string, string)> Top, List<(string, string)> Requirements, List<(string, string)> Resources) RandomWorkload(Random random)
    {
        string Pick(params string[] options) => options[random.Next(options.Length)];
        var top = new List<(string, string)> { ("name", "w"), ("image", Pick(Images)) };
        if (random.Next(2) == 0) top.Add(("command", "[\"sh\", \"-c\", \"true\"]"));
        if (random.Next(2) == 0) top.Add(("env", "{\"A\": \"1\", \"B\": \"2\"}"));
        if (random.Next(2) == 0) top.Add(("tier", "\"auto\""));
        var requirements = new List<(string, string)>();
        void Maybe(string key, params string[] values)
        {
            if (random.Next(2) == 0) requirements.Add((key, Pick(values)));
        }
        Maybe("os", "\"linux\"", "\"windows\"");
        Maybe("arch", "\"host\"", "\"arm64\"", "\"x86_64\"");
        Maybe("fullOs", "true", "false");
        Maybe("ownKernel", "true", "false");
        Maybe("kernelModules", "[]", "[\"overlay\"]");
        Maybe("specialDrivers", "true", "false");
        Maybe("isolation", "\"none\"", "\"standard\"", "\"strong\"");
        Maybe("trust", "\"trusted\"", "\"untrusted\"");
        Maybe("hardware", "\"none\"", "\"shared\"", "\"dedicated\"");
        Maybe("gpus", "0", "1");
        Maybe("statefulSnapshots", "true", "false");
        Maybe("startupBudget", "\"10ms\"", "\"2s\"", "\"10s\"");
        var resources = new List<(string, string)> { ("cpus", "1"), ("memory", "\"64M\""), ("pids", "10") };
        return (top, requirements, resources);
    }

    private static List<(string, string)> Shuffle(List<(string, string)> items, Random random) =>
        [.. items.OrderBy(_ => random.Next())];

    // Flow values are valid in both YAML and JSON, so one rendering of the values serves both.
    private static string Render(List<(string, string)> top, List<(string, string)> requirements, List<(string, string)> resources)
    {
        var text = new StringBuilder();
        foreach (var (key, value) in top)
        {
            text.Append(key).Append(": ").Append(value).Append('\n');
        }
        text.Append("requirements:\n");
        foreach (var (key, value) in requirements)
        {
            text.Append("  ").Append(key).Append(": ").Append(value).Append('\n');
        }
        if (requirements.Count == 0)
        {
            text.Length -= 1;
            text.Append(" {}\n");
        }
        text.Append("resources:\n");
        foreach (var (key, value) in resources)
        {
            text.Append("  ").Append(key).Append(": ").Append(value).Append('\n');
        }
        return text.ToString();
    }

    private static string RenderJson(List<(string, string)> top, List<(string, string)> requirements, List<(string, string)> resources)
    {
        static string Object(IEnumerable<(string Key, string Value)> items) =>
            "{" + string.Join(", ", items.Select(i => $"\"{i.Key}\": {(i.Key is "name" or "image" ? $"\"{i.Value}\"" : i.Value)}")) + "}";
        return Object([.. top, ("requirements", Object(requirements)), ("resources", Object(resources))]);
    }
}
