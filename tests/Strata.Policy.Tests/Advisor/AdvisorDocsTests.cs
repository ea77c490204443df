using System.Text.RegularExpressions;
using Strata.Policy.Advisor;

namespace Strata.Policy.Tests.Advisor;

/// <summary>docs/advisor.md and the rules table name the same rules.</summary>
public sealed partial class AdvisorDocsTests
{
    private static readonly string Docs = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "assets", "advisor.md"));

    private static IEnumerable<string> CodeIds() =>
        AdvisorRules.All.Select(r => r.Id)
            .Concat(AdvisorRules.Contradictions.Select(c => c.Id))
            .Concat([AdvisorRules.ClashId, AdvisorRules.ProjectStepId, AdvisorRules.BudgetStepId, AdvisorRules.AvailabilityStepId, AdvisorRules.FallbackStepId, AdvisorRules.SelectionStepId]);

    [Fact]
    public void Docs_NameEveryRuleOfTheCode()
    {
        var missing = CodeIds().Where(id => !Docs.Contains($"`{id}`", StringComparison.Ordinal)).ToList();
        Assert.True(missing.Count == 0, $"docs/advisor.md does not name: {string.Join(", ", missing)}");
    }

    [Fact]
    public void Docs_NameNoRuleTheCodeLacks()
    {
        var known = CodeIds().ToHashSet();
        var unknown = RuleId().Matches(Docs).Select(m => m.Groups[1].Value).Where(id => !known.Contains(id)).Distinct().ToList();
        Assert.True(unknown.Count == 0, $"docs/advisor.md names rules the code does not have: {string.Join(", ", unknown)}");
    }

    [Fact]
    public void Docs_RulesTable_ListsConditionAndResultOfEachRule()
    {
        foreach (var rule in AdvisorRules.All)
        {
            Assert.Contains($"| `{rule.Id}` | `{rule.Key}` | {rule.Condition} | {rule.Result} |", Docs);
        }
    }

    [GeneratedRegex(@"`([RXPBAFS][0-9]+-[a-z-]+)`")]
    private static partial Regex RuleId();
}
