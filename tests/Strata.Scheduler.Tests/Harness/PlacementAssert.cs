namespace Strata.Scheduler.Tests.Harness;

/// <summary>Assertions on a placement and its explanation.</summary>
internal static class PlacementAssert
{
    public static void PlacedOn(PlacementOutcome outcome, string node)
    {
        Assert.True(outcome.Placed, $"expected a placement on {node}, got: {outcome.Error}");
        Assert.Equal(node, outcome.Node);
        Assert.Equal(node, outcome.Explanation.Node);
        Assert.Equal(node, outcome.Explanation.Candidates[0].Node);
        Assert.Null(outcome.Error);
    }

    /// <summary>The explanation counts <paramref name="count"/> rejections by (plugin, reason), the first fact being <paramref name="fact"/>.</summary>
    public static RejectionGroup Rejected(PlacementOutcome outcome, string plugin, string reason, int count = 1, string? fact = null)
    {
        var group = Assert.Single(outcome.Explanation.Rejected, g => g.Plugin == plugin && g.Reason == reason);
        Assert.Equal(count, group.Count);
        if (fact is not null)
        {
            Assert.Equal(fact, group.Examples[0]);
        }
        return group;
    }

    public static double PluginScore(PlacementOutcome outcome, string node, string plugin) =>
        Assert.Single(Assert.Single(outcome.Explanation.Candidates, c => c.Node == node).Scores, s => s.Plugin == plugin).Score;
}
