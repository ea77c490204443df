namespace Strata.Contracts.Drivers;

/// <summary>
/// One step of a slow create, as a driver (or the image store it reads) reports it: <see cref="Id"/> names the step
/// (<c>image</c>, <c>layers</c>, <c>disk</c>, <c>start</c>, <c>template</c>, ...), <see cref="Message"/> says it in
/// words (<c>unpacking layer 2/3</c>), <see cref="Current"/>/<see cref="Total"/> count within the step (0/0 when it
/// has no count). A new step means the one before is done; the same step again updates its count.
/// </summary>
public sealed record CreateStep(string Id, string Message, int Current = 0, int Total = 0);

/// <summary>
/// Where a create in progress reports its steps. The control plane opens a scope around a create that runs as an
/// operation (<see cref="Begin"/>); anything that create calls, however deep (driver, image store, disk builder),
/// reports with <see cref="Report"/>. It flows with the async context, so no signature has to carry it; outside a
/// scope a report costs one read of an async-local and goes nowhere.
/// </summary>
public static class CreateProgress
{
    private static readonly AsyncLocal<Scope?> CurrentScope = new();

    /// <summary>Sends this flow's steps to <paramref name="sink"/> until the returned scope is disposed.</summary>
    public static IDisposable Begin(IProgress<CreateStep> sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        var scope = new Scope(sink, CurrentScope.Value);
        CurrentScope.Value = scope;
        return scope;
    }

    public static void Report(string id, string message, int current = 0, int total = 0) =>
        CurrentScope.Value?.Sink?.Report(new CreateStep(id, message, current, total));

    private sealed class Scope(IProgress<CreateStep> sink, Scope? outer) : IDisposable
    {
        // Cleared on dispose: work the create started that outlives it (a thread that watches the workload
        // captured this context) reports nowhere and keeps nothing of the operation alive.
        public IProgress<CreateStep>? Sink { get; private set; } = sink;

        public void Dispose()
        {
            Sink = null;
            CurrentScope.Value = outer;
        }
    }
}
