using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Rightsizing;
using Strata.Rightsizing.Policy;
using Strata.Store;

namespace Strata.Control.Usage;

/// <summary>
/// Samples every running instance's CPU and memory through its driver's <see cref="IStatsDriver.ReadUsageAsync"/>
/// every <see cref="UsageSamplerOptions.Interval"/> into a bounded per-instance <see cref="UsageHistory"/>, saves the
/// histories to the store (so they survive a daemon restart) and answers recommendations from them
/// (docs/rightsizing.md, "In the daemon"). One round reads counters only: no measuring window, no process spawned.
/// </summary>
public sealed partial class UsageSampler : IAsyncDisposable
{
    private readonly InstanceService _service;
    private readonly IUsageStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Recommender _recommender = new();
    private readonly RightsizePolicy _policy;
    private readonly Projects.ProjectService? _projects;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, TrackedUsage> _tracked = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private DateTimeOffset _lastSave;
    private Task? _loop;
    private long _rounds;
    private long _roundTicks;
    private int _disposed;

    /// <param name="projects">The projects' default right-sizing modes; null: every project's is <c>recommend</c>.</param>
    public UsageSampler(InstanceService service, IUsageStore store, TimeProvider time, UsageSamplerOptions? options = null, ILogger<UsageSampler>? logger = null, Projects.ProjectService? projects = null)
    {
        Options = options ?? new UsageSamplerOptions();
        Options.Validate();
        _policy = new RightsizePolicy(Options.Policy);
        _projects = projects;
        _service = service;
        _store = store;
        _time = time;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _lastSave = time.GetUtcNow();
    }

    public UsageSamplerOptions Options { get; }

    /// <summary>Rounds done, and the time they took on the wall clock (for the overhead figure in docs/rightsizing.md).</summary>
    public (long Rounds, TimeSpan Total) RoundStatistics => (Interlocked.Read(ref _rounds), Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _roundTicks)));

    /// <summary>Loads the saved histories; an unreadable one is logged and started afresh, never fatal.</summary>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        var records = await _store.ListUsageAsync(cancellationToken).ConfigureAwait(false);
        lock (_lock)
        {
            foreach (var r in records)
            {
                try
                {
                    var state = JsonSerializer.Deserialize(r.History, RightsizingJson.Default.UsageHistoryState)
                        ?? throw new JsonException("empty history");
                    if (!TierNames.TryParse(r.Tier, out var tier))
                    {
                        throw new ArgumentException($"unknown tier '{r.Tier}'");
                    }
                    var tracked = new TrackedUsage(r.InstanceId, r.Project, r.Name, tier, UsageHistory.FromState(state, _recommender.Options), Options.RecentSamples)
                    {
                        Policy = JsonSerializer.Deserialize(r.Policy, RightsizingJson.Default.RightsizeState) ?? new RightsizeState(),
                        RemovedAt = r.RemovedAt,
                        OomKillsTotal = state.OomKills,
                    };
                    _tracked[r.InstanceId] = tracked;
                }
                catch (Exception e) when (e is JsonException or ArgumentException or StrataException or InvalidOperationException)
                {
                    LogUnreadable(r.Name, r.InstanceId, e.Message);
                }
            }
        }
        LogLoaded(records.Count);
    }

    /// <summary>Starts the periodic rounds (nothing when the interval is 0).</summary>
    public void Start()
    {
        if (Options.Interval > TimeSpan.Zero)
        {
            _loop = Task.Run(() => LoopAsync(_stop.Token));
        }
    }

    private async Task LoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Options.Interval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await SampleOnceAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogRoundFailed(e.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// One round: a reading of every running instance, a sample into its history (CPU from the difference to the last
    /// reading), OOM kills counted, removed instances marked, and the histories saved when <see cref="UsageSamplerOptions.SaveEvery"/> has passed.
    /// </summary>
    public async Task SampleOnceAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var records = _service.List();
        // Each reading is stamped when it was taken, not when the round ended: a slow one (a guest's QMP under load)
        // would otherwise shorten the interval the CPU time is divided by for the readings before it.
        var readings = new List<(InstanceRecord Record, UsageReading Reading, DateTimeOffset At)>(records.Count);
        foreach (var record in records)
        {
            if (!record.State.IsActive() || record.Handle is null || _service.Drivers.Find(record.Tier) is not IStatsDriver driver)
            {
                continue;
            }
            try
            {
                var reading = await driver.ReadUsageAsync(record.Handle, cancellationToken).ConfigureAwait(false);
                readings.Add((record, reading, _time.GetUtcNow()));
            }
            catch (Exception e) when (e is StrataException or IOException or UnauthorizedAccessException)
            {
                LogReadFailed(record.Name, record.Id, e.Message); // it stopped between the list and the reading
            }
        }
        var now = _time.GetUtcNow();
        List<Change> changes;
        lock (_lock)
        {
            var sampled = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (record, reading, at) in readings)
            {
                if (Add(Track(record), record, reading, at))
                {
                    sampled.Add(record.Id);
                }
            }
            foreach (var record in records)
            {
                if (!record.State.IsActive() && _tracked.TryGetValue(record.Id, out var t) && t.Last is { } last)
                {
                    Finished(t, record, last);
                }
            }
            var ids = records.Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
            foreach (var t in _tracked.Values)
            {
                if (t.RemovedAt is null && !ids.Contains(t.Id))
                {
                    t.RemovedAt = now;
                    t.Dirty = true;
                }
            }
            changes = Decide(records, sampled, now);
        }
        Interlocked.Increment(ref _rounds);
        Interlocked.Add(ref _roundTicks, Stopwatch.GetTimestamp() - started);
        if (changes.Count > 0)
        {
            await ApplyChangesAsync(changes, cancellationToken).ConfigureAwait(false);
        }
        if (now - _lastSave >= Options.SaveEvery)
        {
            await SaveAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private TrackedUsage Track(InstanceRecord record)
    {
        if (!_tracked.TryGetValue(record.Id, out var t))
        {
            t = new TrackedUsage(record.Id, record.Project, record.Name, record.Tier, _recommender.NewHistory(), Options.RecentSamples);
            _tracked[record.Id] = t;
        }
        t.Project = record.Project;
        t.Name = record.Name; // renames keep the history (it is the instance's, by id)
        return t;
    }

    /// <summary>The shortest interval a sample spans: half the sampling interval, at most 250 ms (a 10 ms tick is then 4 % of a core at most).</summary>
    private TimeSpan MinimumSpan => Options.Interval / 2 < TimeSpan.FromMilliseconds(250) ? Options.Interval / 2 : TimeSpan.FromMilliseconds(250);

    /// <summary>Adds a reading; true when it made a sample (the first reading of a run is only a baseline).</summary>
    private bool Add(TrackedUsage t, InstanceRecord record, UsageReading reading, DateTimeOffset now)
    {
        var sampled = false;
        t.MemoryLimitBytes = reading.MemoryLimitBytes ?? t.MemoryLimitBytes ?? record.Spec.Resources?.MemoryBytes;
        if (t.Last is { } kept && reading.CpuNanoseconds >= kept.CpuNanoseconds && now > t.LastTime && now - t.LastTime < MinimumSpan)
        {
            // Too close to the last reading (a round that ran late is followed at once by the next one): CPU time moves
            // in clock ticks (10 ms), so one tick over a few milliseconds would read as cores (a 1-vCPU guest idling at
            // 0.03 cores read 1.94 that way). The last reading stays the baseline and the next round spans enough.
            return false;
        }
        if (t.Last is { } last && reading.CpuNanoseconds >= last.CpuNanoseconds && now > t.LastTime)
        {
            var cpuNs = reading.CpuNanoseconds - last.CpuNanoseconds;
            var cores = cpuNs / 1e9 / (now - t.LastTime).TotalSeconds;
            t.CpuNanosecondsTotal += cpuNs;
            // A guest's boot (until its init started the workload) is not what the workload needs: its memory counts,
            // its CPU (TCG translating the kernel and init) would carry the CPU histogram's p90 for days.
            t.History.Add(new UsageSample(now, cores, reading.MemoryBytes), countCpu: !reading.Booting && !last.Booting);
            t.AddRecent(new UsagePoint(now, Math.Round(cores, 4), reading.MemoryBytes));
            if (reading.OomKills > last.OomKills)
            {
                t.History.RecordOomKill(now, t.MemoryLimitBytes ?? reading.MemoryBytes);
                t.OomKillsTotal += reading.OomKills - last.OomKills;
                t.OomCountedThisRun = true;
                t.OomPending = true;
                LogOomKill(record.Name, record.Id, t.MemoryLimitBytes ?? 0);
            }
            t.Dirty = true;
            sampled = true;
        }
        else if (t.Last is { } previous && reading.OomKills > previous.OomKills && !t.OomCountedThisRun)
        {
            // The workload was OOM-killed and restarted between two readings (the counter outlives the run).
            t.History.RecordOomKill(now, t.MemoryLimitBytes ?? reading.MemoryBytes);
            t.OomKillsTotal += reading.OomKills - previous.OomKills;
            t.OomPending = true;
            t.Dirty = true;
            LogOomKill(record.Name, record.Id, t.MemoryLimitBytes ?? 0);
        }
        // A lower counter is a new run of the workload (a restart): this reading is the new baseline.
        t.Last = reading;
        t.LastTime = now;
        return sampled;
    }

    /// <summary>
    /// The run the sampler was reading has ended. An OOM kill that ended it before a reading saw the counter move
    /// (the container tier's counter goes with its cgroup) is counted from the exit's reason. The next run starts
    /// from a fresh baseline.
    /// </summary>
    private void Finished(TrackedUsage t, InstanceRecord record, UsageReading last)
    {
        if (record.Reason?.Contains("oom", StringComparison.OrdinalIgnoreCase) == true && !t.OomCountedThisRun)
        {
            var at = record.FinishedAt ?? t.LastTime;
            t.History.RecordOomKill(at, t.MemoryLimitBytes ?? last.MemoryBytes);
            t.OomKillsTotal++;
            t.OomPending = true;
            t.Dirty = true;
            LogOomKill(record.Name, record.Id, t.MemoryLimitBytes ?? 0);
        }
        t.Last = null;
        t.OomCountedThisRun = false;
    }

    /// <summary>Writes every changed history to the store and drops those of instances removed longer ago than the retention.</summary>
    public async Task SaveAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        List<UsageHistoryRecord> changed;
        lock (_lock)
        {
            changed = [.. _tracked.Values.Where(t => t.Dirty).Select(t => new UsageHistoryRecord
            {
                InstanceId = t.Id,
                Project = t.Project,
                Name = t.Name,
                Tier = t.Tier.ToName(),
                History = JsonSerializer.Serialize(t.History.ToState(), RightsizingJson.Default.UsageHistoryState),
                Policy = JsonSerializer.Serialize(t.Policy, RightsizingJson.Default.RightsizeState),
                UpdatedAt = now,
                RemovedAt = t.RemovedAt,
            })];
            foreach (var t in _tracked.Values)
            {
                t.Dirty = false;
            }
            foreach (var gone in _tracked.Values.Where(t => t.RemovedAt is { } r && now - r > Options.KeepRemoved).Select(t => t.Id).ToList())
            {
                _tracked.Remove(gone);
            }
        }
        _lastSave = now;
        if (changed.Count > 0)
        {
            await _store.SaveUsageAsync(changed, cancellationToken).ConfigureAwait(false);
        }
        await _store.PruneUsageAsync(now - Options.KeepRemoved, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return; // the daemon disposes it before the store goes; the service container disposes it again
        }
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
        try
        {
            await SaveAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is StrataException or InvalidOperationException or ObjectDisposedException)
        {
            LogRoundFailed("saving the usage histories at shutdown: " + e.Message);
        }
        _stop.Dispose();
    }
}
