using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading.Channels;
using Strata.Contracts;

namespace Strata.Control.Operations;

/// <summary>Frozen numbers: the status may be persisted or compared by callers.</summary>
public enum OperationStatus
{
    Running = 1,
    Succeeded = 2,
    Failed = 3,
    Cancelled = 4,
}

/// <summary>
/// One piece of long work running in the daemon. The work reports progress per item (a blob, a disk, ...);
/// watchers get every phase change and at most a few byte-count updates per second per item, so a fast download
/// cannot flood a slow client. Lifecycle: running → succeeded | failed | cancelled (final, exactly once).
/// </summary>
public sealed class Operation
{
    /// <summary>Byte-count updates of one item closer together than this are not forwarded to watchers.</summary>
    private static readonly TimeSpan UpdateInterval = TimeSpan.FromMilliseconds(100);

    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _cts = new();
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<ProgressItem> _items = [];
    private readonly Dictionary<string, (int Index, long ForwardedAt)> _itemIndex = new(StringComparer.Ordinal);
    private readonly List<Channel<ProgressItem>> _watchers = [];
    private string? _message;

    internal Operation(string id, string kind, string target, string? project, TimeProvider time)
    {
        Id = id;
        Kind = kind;
        Target = target;
        Project = project;
        _time = time;
        CreatedAt = time.GetUtcNow();
    }

    public string Id { get; }
    public string Kind { get; }
    public string Target { get; }
    /// <summary>The project whose object the work is on (a move); null for host-wide work (an image pull).</summary>
    public string? Project { get; }
    public DateTimeOffset CreatedAt { get; }
    public DateTimeOffset? FinishedAt { get; private set; }
    public OperationStatus Status { get; private set; } = OperationStatus.Running;
    public ProblemDetails? Error { get; private set; }
    public JsonElement? Result { get; private set; }

    /// <summary>Cancelled when someone cancels the operation (or the daemon shuts down).</summary>
    public CancellationToken CancellationToken => _cts.Token;

    /// <summary>Completes (never faults) when the operation reaches a final status.</summary>
    public Task Completion => _done.Task;

    public bool IsFinished => Status != OperationStatus.Running;

    /// <summary>Records the state of one item; forwards it to watchers unless it is a too-frequent byte update.</summary>
    public void Report(ProgressItem item)
    {
        lock (_lock)
        {
            if (IsFinished)
            {
                return;
            }
            var now = _time.GetTimestamp();
            bool forward;
            if (_itemIndex.TryGetValue(item.Id, out var slot))
            {
                var previous = _items[slot.Index];
                forward = previous.Phase != item.Phase || item.Current == item.Total
                    || _time.GetElapsedTime(slot.ForwardedAt, now) >= UpdateInterval;
                _items[slot.Index] = item;
                if (forward)
                {
                    _itemIndex[item.Id] = (slot.Index, now);
                }
            }
            else
            {
                forward = true;
                _itemIndex[item.Id] = (_items.Count, now);
                _items.Add(item);
            }
            if (forward)
            {
                foreach (var w in _watchers)
                {
                    w.Writer.TryWrite(item);
                }
            }
        }
    }

    public void SetMessage(string message)
    {
        lock (_lock)
        {
            _message = message;
        }
    }

    /// <summary>Asks the work to stop. Returns false when the operation had already finished.</summary>
    public bool Cancel()
    {
        if (IsFinished)
        {
            return false;
        }
        try
        {
            _cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
        return true;
    }

    internal void Finish(OperationStatus status, JsonElement? result, ProblemDetails? error)
    {
        lock (_lock)
        {
            if (IsFinished)
            {
                return;
            }
            Status = status;
            Result = result;
            Error = error;
            FinishedAt = _time.GetUtcNow();
            foreach (var w in _watchers)
            {
                w.Writer.TryComplete();
            }
            _watchers.Clear();
        }
        _done.TrySetResult();
    }

    public OperationInfo ToInfo()
    {
        lock (_lock)
        {
            long current = 0, total = 0;
            foreach (var i in _items)
            {
                current += Math.Max(0, i.Current);
                total += Math.Max(0, i.Total);
            }
            return new OperationInfo
            {
                Id = Id,
                Kind = Kind,
                Target = Target,
                Status = StatusName(Status),
                Progress = new OperationProgress { Current = current, Total = total, Message = _message, Items = [.. _items] },
                Error = Error,
                Result = Result,
                CreatedAt = CreatedAt,
                FinishedAt = FinishedAt,
            };
        }
    }

    /// <summary>The operation as it is now, then item updates as they happen, then the operation in its final state.</summary>
    public async IAsyncEnumerable<OperationEvent> WatchAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        // Updates are lossy by design (the final snapshot carries every item's last state): a slow reader
        // drops the oldest byte counts instead of making the daemon buffer without bound.
        var channel = Channel.CreateBounded<ProgressItem>(new BoundedChannelOptions(256)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        });
        OperationInfo first;
        lock (_lock)
        {
            first = ToInfo();
            if (IsFinished)
            {
                channel.Writer.TryComplete();
            }
            else
            {
                _watchers.Add(channel);
            }
        }
        try
        {
            yield return new OperationEvent { Operation = first };
            if (OperationStatusNames.IsFinished(first.Status))
            {
                yield break;
            }
            await foreach (var item in channel.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                yield return new OperationEvent { Item = item };
            }
            await Completion.WaitAsync(ct).ConfigureAwait(false);
            yield return new OperationEvent { Operation = ToInfo() };
        }
        finally
        {
            lock (_lock)
            {
                _watchers.Remove(channel);
            }
        }
    }

    public static string StatusName(OperationStatus status) => status switch
    {
        OperationStatus.Running => OperationStatusNames.Running,
        OperationStatus.Succeeded => OperationStatusNames.Succeeded,
        OperationStatus.Failed => OperationStatusNames.Failed,
        OperationStatus.Cancelled => OperationStatusNames.Cancelled,
        _ => throw new ArgumentOutOfRangeException(nameof(status)),
    };

    internal void DisposeCancellation() => _cts.Dispose();
}
