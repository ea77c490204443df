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

    public Task<IReadOnlyList<LocalCopy>> ListAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<LocalCopy>>([.. _copies.Values]);

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
