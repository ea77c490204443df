using System.Collections.Concurrent;
using System.Text.Json;
using Strata.Contracts;

namespace Strata.Control.Operations;

/// <summary>
/// Runs long work in the background as <see cref="Operation"/>s that clients can list, watch, wait for and cancel.
/// Running operations are always kept; of the finished ones only the most recent <c>historyLimit</c> are.
/// Operations live in memory: a daemon restart forgets them (the work they did, e.g. a pulled image, stays).
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
    public Operation Start(string kind, string target, Func<Operation, CancellationToken, Task<JsonElement?>> work) => Start(kind, target, null, work);

    /// <summary>As <see cref="Start(string, string, Func{Operation, CancellationToken, Task{JsonElement?}})"/>, for work on one project's object: only that project sees and cancels it.</summary>
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

    /// <summary>Newest first.</summary>
    public IReadOnlyList<Operation> List() =>
        [.. _operations.Values.OrderByDescending(o => o.CreatedAt).ThenBy(o => o.Id, StringComparer.Ordinal)];

    public Operation Get(string id) =>
        _operations.TryGetValue(id, out var operation) ? operation : throw Missing(id);

    /// <summary>The error for an operation that is not there (also for one the caller may not see: the same words).</summary>
    public StrataException Missing(string id) =>
        StrataException.NotFound($"no operation '{id}' (finished operations are kept only for the last {_historyLimit}); 'strata operation ls' lists them");

    private void Trim()
    {
        var finished = _operations.Values.Where(o => o.IsFinished).OrderByDescending(o => o.FinishedAt).Skip(_historyLimit).ToList();
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
