namespace Strata.Scheduler.Tests.Harness;

/// <summary>Placement requests for tests: <c>Ask.For("container", 1, "1GiB") with { Node = "n2" }</c>.</summary>
internal static class Ask
{
    public static PlacementRequest For(string tier, double cores, string memory, string disk = "0", long pids = 0, string name = "web") => new()
    {
        Name = name,
        Tier = tier,
        Resources = new Resources(NodeBuilder.Cores(cores), NodeBuilder.Size(memory), NodeBuilder.Size(disk), pids),
    };

    public static PlacementRequest Container(double cores = 1, string memory = "1GiB", string name = "web") => For("container", cores, memory, name: name);
}
