using System.Text.Json;
using Strata.Policy.Advisor;
using Strata.Policy.Workloads;

namespace Strata.Policy.Tests.Workloads;

/// <summary>schema/workload.schema.json and the parser accept the same keys and values.</summary>
public sealed class WorkloadSchemaTests
{
    private static readonly JsonElement Defs = LoadDefs();

    private static JsonElement LoadDefs()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "assets", "workload.schema.json")));
        Assert.Equal("https://json-schema.org/draft/2020-12/schema", document.RootElement.GetProperty("$schema").GetString());
        return document.RootElement.GetProperty("$defs").Clone();
    }

    private static string[] Properties(params string[] path)
    {
        var element = Defs;
        foreach (var step in path)
        {
            element = element.GetProperty(step);
        }
        Assert.False(element.GetProperty("additionalProperties").GetBoolean());
        return [.. element.GetProperty("properties").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal)];
    }

    private static string[] Enum(params string[] path)
    {
        var element = Defs;
        foreach (var step in path)
        {
            element = element.GetProperty(step);
        }
        return [.. element.GetProperty("enum").EnumerateArray().Select(e => e.GetString()!)];
    }

    private static string[] Sorted(IEnumerable<string> keys) => [.. keys.Order(StringComparer.Ordinal)];

    [Fact]
    public void Schema_PropertyNames_MatchTheParsersKeys()
    {
        Assert.Equal(Sorted(WorkloadFile.DocumentKeys), Properties("file"));
        Assert.Equal(Sorted([.. WorkloadFile.WorkloadKeys, "$schema"]), Properties("workload"));
        Assert.Equal(Sorted(WorkloadFile.ResourceKeys), Properties("workload", "properties", "resources"));
        Assert.Equal(Sorted(WorkloadFile.RequirementKeys), Properties("requirements"));
    }

    [Fact]
    public void Schema_EnumValues_MatchTheParsersValues()
    {
        Assert.Equal(WorkloadFile.TierValues, Enum("workload", "properties", "tier"));
        Assert.Equal(WorkloadFile.IsolationValues, Enum("requirements", "properties", "isolation"));
        Assert.Equal(WorkloadFile.TrustValues, Enum("requirements", "properties", "trust"));
        Assert.Equal(WorkloadFile.HardwareValues, Enum("requirements", "properties", "hardware"));
        Assert.Equal(Platform.KnownOs, Enum("requirements", "properties", "os"));
        var arch = Enum("requirements", "properties", "arch");
        Assert.All(arch, a => Assert.True(a == "host" || Platform.NormalizeArch(a) is not null, $"schema arch {a} is not accepted"));
        Assert.All(Platform.KnownArch, a => Assert.Contains(a, arch));
    }

    [Fact]
    public void Schema_EveryKeyInTheExample_IsInTheSchema()
    {
        // The example is also the parser's own acceptance test: it must parse without errors.
        var text = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "assets", "examples", "mixed.yaml"));
        Assert.True(WorkloadFile.Parse(text, "mixed.yaml").Succeeded);
    }
}
