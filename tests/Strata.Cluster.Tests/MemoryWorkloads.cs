using System.Collections.Concurrent;

namespace Strata.Cluster.Tests;

/// <summary>
/// A node's workloads for in-process cluster tests: copies kept in memory with their generation, and a log of
/// every run, so a test sees each start (a copy started twice shows up twice).
/// </summary>
public sealed class MemoryWorkloads : IClusterWorkloads
{
    private readonly ConcurrentDictionary<(string, string), LocalCopy> _copies = new();

    public ConcurrentQueue<(string Project, string Name, long Generation)> Runs { get; } = new();

    public IReadOnlyCollection<LocalCopy> Copies => [.. _copies.Values];

    private int _failLists;

    /// <summary>The next <paramref name="times"/> lists throw, as a fault of the host would (not an etcd error).</summary>
    public void FailLists(int times) => Volatile.Write(ref _failLists, times);

    /// <summary>Puts a copy here behind the agent's back (as one left from before the node was away).</summary>
    public void Plant(LocalCopy copy) => _copies[(copy.Project, copy.Name)] = copy;

    public Task<IReadOnlyList<LocalCopy>> ListAsync(CancellationToken ct) =>
        Interlocked.Decrement(ref _failLists) >= 0
            ? throw new InvalidOperationException("memory workloads: list failed (injected)")
            : Task.FromResult<IReadOnlyList<LocalCopy>>([.. _copies.Values]);

    public Task RunAsync(DesiredInstance desired, CancellationToken ct)
    {
        _copies[(desired.Project, desired.Name)] = new LocalCopy(desired.Project, desired.Name, desired.Generation, "running");
        Runs.Enqueue((desired.Project, desired.Name, desired.Generation));
        return Task.CompletedTask;
    }

    public Task RemoveAsync(string project, string name, CancellationToken ct)
    {
        _copies.TryRemove((project, name), out _);
        return Task.CompletedTask;
    }
}
