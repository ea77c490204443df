using System.Text.Json;

namespace Strata.Contracts;

/// <summary>Names of an operation's status on the wire.</summary>
public static class OperationStatusNames
{
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    public static bool IsFinished(string status) => status is Succeeded or Failed or Cancelled;
}

/// <summary>Long work (an image pull, ...) the daemon runs in the background: watch it, wait for it, cancel it.</summary>
public sealed record OperationInfo
{
    public required string Id { get; init; }
    /// <summary>What the work is, e.g. <c>image-pull</c>.</summary>
    public required string Kind { get; init; }
    /// <summary>What it works on, e.g. the image reference.</summary>
    public required string Target { get; init; }
    /// <summary>The project the operation was started in: only that project's callers see, wait for or cancel it.</summary>
    public string? Project { get; init; }
    /// <summary><c>running</c>, <c>succeeded</c>, <c>failed</c> or <c>cancelled</c>.</summary>
    public required string Status { get; init; }
    public required OperationProgress Progress { get; init; }
    /// <summary>Why it failed or was cancelled (the same problem shape as any API error).</summary>
    public ProblemDetails? Error { get; init; }
    /// <summary>What it produced when it succeeded (<c>image-pull</c>: an <see cref="ImageSummary"/>; <c>instance-create</c>: an <see cref="InstanceInfo"/>).</summary>
    public JsonElement? Result { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    /// <summary>In a cluster's list (<c>GET /v1/operations</c>): the node that runs it. Null outside a cluster.</summary>
    public string? Node { get; init; }
}

/// <summary>Progress summed over the items; <see cref="Total"/> is 0 while unknown.</summary>
public sealed record OperationProgress
{
    public long Current { get; init; }
    public long Total { get; init; }
    public string? Message { get; init; }
    /// <summary>Per-item state (for a pull: one per blob), in the order the items first appeared.</summary>
    public IReadOnlyList<ProgressItem> Items { get; init; } = [];
}

/// <summary>
/// Progress of one item of an operation. For a pull: <see cref="Id"/> is the blob digest, <see cref="Kind"/>
/// <c>config</c> or <c>layer</c>, <see cref="Phase"/> one of <c>downloading</c>, <c>already-present</c>, <c>done</c>,
/// <c>unpacking</c>, <c>unpacked</c>. <see cref="Total"/> is -1 when unknown. For an instance create: one item per
/// step (<see cref="Id"/> <c>image</c>, <c>layers</c>, <c>disk</c>, <c>start</c>, ...), <see cref="Kind"/> <c>step</c>,
/// <see cref="Phase"/> <c>running</c> then <c>done</c>, a count within the step (layer 2 of 3) and <see cref="Message"/>.
/// </summary>
public sealed record ProgressItem(string Id, string Kind, string Phase, long Current, long Total)
{
    /// <summary>The step in words, e.g. <c>unpacking layer 2/3</c> (create steps; null for a pull's blobs).</summary>
    public string? Message { get; init; }
}

/// <param name="Items">Newest first.</param>
/// <param name="Unanswered">In a cluster: the online nodes that did not answer for their operations (each with why), so
/// the list may lack theirs. Null outside a cluster.</param>
public sealed record OperationList(IReadOnlyList<OperationInfo> Items, IReadOnlyList<string>? Unanswered = null);

/// <summary>
/// One line of <c>GET /v1/operations/{id}/events</c> (NDJSON): exactly one member is set. The stream starts with
/// the operation as it is, then sends item updates, and ends with the operation in its final state.
/// </summary>
public sealed record OperationEvent
{
    public OperationInfo? Operation { get; init; }
    public ProgressItem? Item { get; init; }
}
