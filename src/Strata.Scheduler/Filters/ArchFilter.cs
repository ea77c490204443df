namespace Strata.Scheduler.Filters;

/// <summary>The node's CPU architecture must match the one the image needs, when the request names one.</summary>
public sealed class ArchFilter : IFilterPlugin
{
    public const string PluginName = "arch";

    public string Name => PluginName;

    public bool AppliesTo(PlacementRequest request) => request.Arch is not null;

    public string? Reject(in NodeCandidate node, PlacementRequest request) =>
        node.Node.Arch == request.Arch ? null : "other arch";

    public string Explain(in NodeCandidate node, PlacementRequest request, string reason) =>
        $"node {node.Name}: arch {node.Node.Arch}, the image needs {request.Arch}";
}
