using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Control.Projects;
using Strata.Policy.Admission;
using Strata.Store;

namespace Strata.Control;

/// <summary>
/// The control plane for instances: validates requests, drives the state machine, persists every
/// transition before it is announced, watches running workloads, applies restart policies, and
/// reconciles the store with reality when the daemon starts.
///
/// Reads come from an in-memory view that is written through to the <see cref="IStateStore"/>; writes
/// to one instance are serialised by that instance's lock.
/// </summary>
public sealed partial class InstanceService : IAsyncDisposable
{
    public const string DefaultProject = "default";

    private readonly IStateStore _store;
    private readonly DriverRegistry _drivers;
    private readonly EventBus _events;
    private readonly ControlOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _names = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Lock _admission = new();
    private readonly ConcurrentDictionary<Task, byte> _background = new();
    private int _disposed;

    public InstanceService(IStateStore store, DriverRegistry drivers, EventBus events, ControlOptions options, TimeProvider time, ILogger<InstanceService> log)
    {
        _store = store;
        _drivers = drivers;
        _events = events;
        _options = options;
        _time = time;
        _log = log;
    }

    public DriverRegistry Drivers => _drivers;

    public string StoreDescription => _store.Description;

    public string InstanceDirectory(string id) => Path.Combine(_options.Root, "instances", id);

    // ---------------------------------------------------------------- reads

    public IReadOnlyList<InstanceRecord> List(string? project = null)
    {
        var list = new List<InstanceRecord>(_entries.Count);
        foreach (var entry in _entries.Values)
        {
            var r = entry.Record;
            if (r.State != InstanceState.Deleted && (project is null || r.Project == project))
            {
                list.Add(r);
            }
        }
        list.Sort(static (a, b) => a.CreatedAt != b.CreatedAt ? a.CreatedAt.CompareTo(b.CreatedAt) : string.CompareOrdinal(a.Name, b.Name));
        return list;
    }

    public InstanceRecord Get(string project, string name) => Find(project, name).Record;

    private Entry Find(string project, string name)
    {
        if (_names.TryGetValue(Key(project, name), out var id) && _entries.TryGetValue(id, out var entry) && entry.Record.State != InstanceState.Deleted)
        {
            return entry;
        }
        throw StrataException.NotFound($"no instance named '{name}' in project '{project}'; 'strata ps -a' lists them");
    }

    private static string Key(string project, string name) => project + "/" + name;

    // ---------------------------------------------------------------- plumbing

    /// <summary>Persists first, then publishes: an event is never announced for a change that could be lost.</summary>
    private async Task CommitAsync(Entry entry, InstanceRecord next, string? eventType, bool persist = true)
    {
        var previous = entry.Record;
        var write = persist && !entry.Ephemeral;
        // The revision counts stored versions: an unwritten change keeps it, so the next write is not stale.
        next = next with { Revision = write ? previous.Revision + 1 : previous.Revision };
        if (!InstanceStateMachine.CanTransition(previous.State, next.State) && previous.State != next.State)
        {
            throw new StrataException(ErrorKind.Internal, $"internal error: illegal transition {previous.State.ToName()} -> {next.State.ToName()} for '{previous.Name}'");
        }
        if (write)
        {
            await _store.UpdateAsync(next, CancellationToken.None).ConfigureAwait(false);
        }
        entry.Record = next;
        if (next.State == InstanceState.Running && previous.State != InstanceState.Running)
        {
            Interlocked.Increment(ref entry.Generation);
        }
        if (eventType is not null)
        {
            _events.Publish(eventType, View(next));
        }
    }

    private static InstanceRecordView View(InstanceRecord r) => new(r.Name, r.Project, r.Tier, r.State, r.ExitCode, r.Reason);

    private static void TryDeleteDirectory(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }


    /// <summary>
    /// Stops watching (the workloads keep running; the next daemon reattaches). Used on SIGTERM.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        // DaemonHost disposes the service itself, then the DI container does again: only the first counts.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _shutdown.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_background.Keys).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
        }
        _shutdown.Dispose();
    }

    /// <summary>Stops every running instance (the explicit <c>strata daemon stop --all</c>).</summary>
    public async Task StopAllAsync(TimeSpan grace, CancellationToken cancellationToken)
    {
        var running = List().Where(r => r.State.IsActive()).ToList();
        await Task.WhenAll(running.Select(r => StopAsync(r.Project, r.Name, grace, cancellationToken))).ConfigureAwait(false);
    }

    internal sealed class Entry
    {
        public Entry(InstanceRecord record)
        {
            Record = record;
        }

        public readonly SemaphoreSlim Lock = new(1, 1);
        public volatile InstanceRecord Record;
        public int Generation;
        public int Attached;
        public bool Ephemeral;
        /// <summary>The limits a growing resize asked for, counted against the project's quota until it is committed or failed.</summary>
        public ResourceSpec? ResizeReservation;
        /// <summary>An unconfirmed incoming move's watch of its receiving process; cancelled when the move is confirmed or discarded.</summary>
        public CancellationTokenSource? IncomingWatch;
        /// <summary>An incoming move's confirmation once asked for: a second ask (the source lost the first answer) waits for the same outcome.</summary>
        public Task<InstanceRecord>? Confirmation;
        public TaskCompletionSource<InstanceRecord> Exit = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void ResetExit()
        {
            if (Exit.Task.IsCompleted)
            {
                Exit = new TaskCompletionSource<InstanceRecord>(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "create of instance {Name} failed: {Reason}")]
    private partial void LogCreateFailed(string name, string reason);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Debug, Message = "run {Name} removed in the background (ms from the request; step): {Timeline}")]
    private partial void LogRemovalTimeline(string name, string timeline);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "reattached to instance {Name} (pid {Pid})")]
    private partial void LogReattached(string name, int pid);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "instance {Name}: {Operation} failed")]
    private partial void LogBackgroundFailure(string name, string operation, Exception exception);
}
