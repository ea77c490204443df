using System.Collections.Concurrent;
using System.Text.Json;
using Strata.Contracts;

namespace Strata.Control.Operations;

/// <summary>
/// Runs long work in the background as <see cref="Operation"/>s that clients can list, watch, wait for and cancel.
/// Running operations are always kept; of the finished ones only the most recent <c>historyLimit</c> of each kind are.
/// Operations live in memory: a daemon restart forgets them (the work they did, e.g. a pulled image, stays).
/// Each belongs to the project it was started in: <see cref="List"/> and <see cref="Get"/> given a project show only
/// that project's, and another project's operation is "not found" exactly like a missing one.
/// </summary>
public sealed class OperationRegistry : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Operation> _operations = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly Func<Exception, ProblemDetails> _describe;
    private readonly int _historyLimit;

    /// <param name="describeError">Turns a failure into the problem shape the API uses everywhere (one mapping).</param>
    public OperationRegistry(TimeProvider time, Func<Exception, ProblemDetails> describeError, int historyLimit = 100)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(historyLimit, 1);
        _time = time;
        _describe = describeError;
        _historyLimit = historyLimit;
    }

    /// <summary>
    /// Starts <paramref name="work"/> on the thread pool. It receives the operation (to report progress) and a token
    /// cancelled by <see cref="Operation.Cancel"/>; what it returns becomes the operation's result.
    /// </summary>
    public Operation Start(string kind, string target, Func<Operation, CancellationToken, Task<JsonElement?>> work) =>
        Start(kind, target, project: null, work);

    /// <inheritdoc cref="Start(string, string, Func{Operation, CancellationToken, Task{JsonElement?}})"/>
    /// <param name="project">The project it belongs to: only callers acting in it see, wait for or cancel it.</param>
    public Operation Start(string kind, string target, string? project, Func<Operation, CancellationToken, Task<JsonElement?>> work)
    {
        var operation = new Operation(Guid.NewGuid().ToString("N")[..16], kind, target, project, _time);
        _operations[operation.Id] = operation;
        _ = Task.Run(() => RunAsync(operation, work));
        return operation;
    }

    private async Task RunAsync(Operation operation, Func<Operation, CancellationToken, Task<JsonElement?>> work)
    {
        var ct = operation.CancellationToken;
        try
        {
            var result = await work(operation, ct).ConfigureAwait(false);
            operation.Finish(OperationStatus.Succeeded, result, null);
        }
        catch (Exception) when (ct.IsCancellationRequested)
        {
            // Whatever the work threw once it was asked to stop is a consequence of the cancellation.
            operation.Finish(OperationStatus.Cancelled, null,
                _describe(new StrataException(ErrorKind.Cancelled, $"{operation.Kind} of {operation.Target} was cancelled")));
        }
        catch (Exception e)
        {
            operation.Finish(OperationStatus.Failed, null, _describe(e));
        }
        finally
        {
            Trim();
        }
    }

    /// <summary>Newest first; given a project, only that project's.</summary>
    public IReadOnlyList<Operation> List(string? project = null) =>
        [.. _operations.Values.Where(o => project is null || o.Project == project)
            .OrderByDescending(o => o.CreatedAt).ThenBy(o => o.Id, StringComparer.Ordinal)];

    /// <summary>The operation; given a project, another project's is not found (the same answer as a missing one).</summary>
    public Operation Get(string id, string? project = null) =>
        _operations.TryGetValue(id, out var operation) && (project is null || operation.Project == project) ? operation
            : throw StrataException.NotFound($"no operation '{id}'{(project is null ? "" : $" in project '{project}'")} (finished operations are kept only for the last {_historyLimit}); 'strata operation ls' lists them");

    private void Trim()
    {
        // Per kind, so a run of creates does not push the last pulls out of the history.
        var finished = _operations.Values.Where(o => o.IsFinished).GroupBy(o => o.Kind, StringComparer.Ordinal)
            .SelectMany(kind => kind.OrderByDescending(o => o.FinishedAt).Skip(_historyLimit)).ToList();
        foreach (var old in finished)
        {
            if (_operations.TryRemove(old.Id, out _))
            {
                old.DisposeCancellation();
            }
        }
    }

    /// <summary>Cancels every running operation and waits (briefly) for them to clean up after themselves.</summary>
    public async ValueTask DisposeAsync()
    {
        var running = _operations.Values.Where(o => !o.IsFinished).ToList();
        foreach (var o in running)
        {
            o.Cancel();
        }
        try
        {
            await Task.WhenAll(running.Select(o => o.Completion)).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
    }
}
