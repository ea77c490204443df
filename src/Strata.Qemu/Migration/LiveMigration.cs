using System.Text.Json;
using System.Text.Json.Nodes;
using Strata.Contracts;
using Strata.Contracts.Host;
using Strata.Qemu.Qmp;

namespace Strata.Qemu.Migration;

/// <summary>A writable local disk of the source VM: what the target must create to receive it.</summary>
public sealed record SourceDisk(string Device, string Format, long SizeBytes);

/// <summary>
/// Drives a live migration from the source QEMU (over its QMP connection) to a prepared <see cref="IMigrationTarget"/>:
/// <list type="number">
/// <item>capabilities and parameters on the source (auto-converge, downtime limit, bandwidth, postcopy on request;
/// <c>pause-before-switchover</c> when disks are copied), the previous values kept for the undo;</item>
/// <item>local disks: an NBD client node per disk and <c>blockdev-mirror</c> sync=full to the target's export, until
/// every job is READY (the guest keeps writing; the mirror keeps up);</item>
/// <item><c>migrate</c>, progress from <c>query-migrate</c>; at <c>pre-switchover</c> (source paused) the mirrors are
/// cancelled, which for a READY mirror means: copy the last dirty blocks, then stop without switching the source to
/// the copy; then <c>migrate-continue</c>;</item>
/// <item>the end is checked: the source <c>postmigrate</c>, the target <c>running</c>.</item>
/// </list>
/// One operation: a failure or cancellation at any step cancels the migration and the disk jobs, removes the NBD nodes,
/// discards the target (QEMU killed, received disks deleted), restores the source's migration settings and resumes the
/// source if it ran before, so exactly one copy of the guest runs: the source. After success the source QEMU is left
/// in <c>postmigrate</c> for the caller to stop.
/// </summary>
public sealed partial class LiveMigration
{
    private const string NodePrefix = "strata-move-nbd";
    private const string JobPrefix = "strata-move-";

    private readonly QmpClient _source;
    private readonly IMigrationTarget _target;
    private readonly MigrationOptions _options;
    private readonly TimeProvider _time;
    private readonly IProgress<MigrationProgress>? _progress;
    private readonly List<string> _undoFailures = [];
    private readonly List<Mirror> _mirrors = [];
    private long _started;
    private long _lastReport;
    private MigrationPhase? _lastPhase;
    private string? _lastStatus;
    private bool _ramReported;
    private bool _postcopyEntered;
    private bool _postcopyRequested;
    private CancellationToken _timeoutOnly;

    private LiveMigration(QmpClient source, IMigrationTarget target, MigrationOptions options, IProgress<MigrationProgress>? progress, TimeProvider time)
    {
        _source = source;
        _target = target;
        _options = options;
        _progress = progress;
        _time = time;
    }

    /// <summary>The writable disks of a running QEMU, as the target must create them (read-only drives are not moved).</summary>
    public static async Task<IReadOnlyList<SourceDisk>> DescribeDisksAsync(QmpClient source, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        var blocks = await source.ExecuteAsync("query-block", null, cancellationToken).ConfigureAwait(false);
        var disks = new List<SourceDisk>();
        foreach (var b in blocks.EnumerateArray())
        {
            if (!b.TryGetProperty("inserted", out var inserted) || (inserted.TryGetProperty("ro", out var ro) && ro.GetBoolean()))
            {
                continue;
            }
            disks.Add(new SourceDisk(b.GetProperty("device").GetString() ?? "", inserted.GetProperty("drv").GetString() ?? "raw",
                inserted.GetProperty("image").GetProperty("virtual-size").GetInt64()));
        }
        return disks;
    }

    /// <summary>Moves the guest behind <paramref name="source"/> to <paramref name="target"/>; see the class summary for the steps and the undo.</summary>
    public static Task<MigrationResult> MigrateAsync(QmpClient source, IMigrationTarget target, MigrationOptions? options,
        IProgress<MigrationProgress>? progress, CancellationToken cancellationToken) =>
        MigrateAsync(source, target, options, progress, TimeProvider.System, cancellationToken);

    public static async Task<MigrationResult> MigrateAsync(QmpClient source, IMigrationTarget target, MigrationOptions? options,
        IProgress<MigrationProgress>? progress, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(time);
        options ??= new MigrationOptions();
        options.Validate();
        return await new LiveMigration(source, target, options, progress, time).RunAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<MigrationResult> RunAsync(CancellationToken cancellationToken)
    {
        _started = _time.GetTimestamp();
        using var timeout = new CancellationTokenSource(_options.Timeout);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        _timeoutOnly = timeout.Token;
        var token = deadline.Token;
        try
        {
            await using var revert = new Revert(e => _undoFailures.Add(e.Message));
            // Undo steps run newest first, so the source is resumed last, once the target is gone: never two copies running.
            SavedSettings? saved = null;
            var initial = "";
            revert.AddAsync(async () =>
            {
                if (saved is not null)
                {
                    await RestoreSourceAsync(saved, resume: initial == "running").ConfigureAwait(false);
                }
            });
            // The target is this operation's from the start: whatever fails, it is discarded (except once the guest
            // runs there in postcopy: the source's copy is stale from then on).
            revert.AddAsync(async () =>
            {
                if (!_target.MayHoldGuest && !await GuestLeftSourceAsync().ConfigureAwait(false))
                {
                    await _target.DiscardAsync().ConfigureAwait(false);
                }
            });
            initial = await RunStateAsync(token).ConfigureAwait(false);
            if (initial is not ("running" or "paused"))
            {
                throw new StrataException(ErrorKind.Conflict, $"the source VM is '{initial}'; only a running or paused VM can move");
            }
            var before = MigrationStatus.Parse(await _source.ExecuteAsync("query-migrate", null, token).ConfigureAwait(false));
            if (before.IsActive || before.IsPostcopy)
            {
                throw new StrataException(ErrorKind.Conflict, $"a migration of this VM is already under way ('{before.Status}'); wait for it or cancel it first");
            }
            saved = await SavedSettings.ReadAsync(_source, token).ConfigureAwait(false);
            await ConfigureSourceAsync(token).ConfigureAwait(false);

            var diskStart = _time.GetTimestamp();
            if (_target.Disks.Count > 0)
            {
                await MirrorDisksAsync(revert, token).ConfigureAwait(false);
            }
            var diskTime = _time.GetElapsedTime(diskStart);

            var end = await SendRamAsync(revert, token).ConfigureAwait(false);
            var state = await RunStateAsync(token).ConfigureAwait(false);
            // QEMU answers 'completed' to query-migrate a moment before its run state leaves 'finish-migrate'.
            for (var wait = 0; state == "finish-migrate" && wait < 250; wait++)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(20), _time, token).ConfigureAwait(false);
                state = await RunStateAsync(token).ConfigureAwait(false);
            }
            if (state != "postmigrate")
            {
                throw new StrataException(ErrorKind.Internal, $"the migration completed but the source is '{state}', not 'postmigrate'");
            }
            await _target.ConfirmRunningAsync(_options.TargetStartTimeout, _postcopyEntered ? _timeoutOnly : token).ConfigureAwait(false);
            revert.Success();

            await RemoveMirrorsAsync().ConfigureAwait(false);
            var result = new MigrationResult
            {
                Total = _time.GetElapsedTime(_started),
                QemuDowntime = end.Downtime ?? TimeSpan.Zero,
                DiskCopyTime = diskTime,
                RamBytes = end.RamTransferred,
                DiskBytes = _mirrors.Sum(m => m.Copied),
                Iterations = end.Iterations,
                MaxThrottlePercent = _maxThrottle,
                UsedPostcopy = _postcopyEntered,
            };
            Report(end, MigrationPhase.Completed, force: true);
            return result;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw Failed(new StrataException(ErrorKind.Cancelled, "the move was cancelled; the guest keeps running on the source and the target was cleaned up"));
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            throw Failed(new StrataException(ErrorKind.Unavailable,
                $"the move did not finish within {_options.Timeout.TotalSeconds:0} s and was undone; the guest keeps running on the source (a guest dirtying RAM faster than the link carries needs more bandwidth or --postcopy)"));
        }
        catch (QmpException e)
        {
            // QEMU refusing a step mid-move is not the caller's bad input: the move could not be done.
            throw Failed(new StrataException(ErrorKind.Unavailable,
                $"moving the VM: QEMU said {e.ErrorClass}: {e.Description}; {(_postcopyEntered ? "postcopy had begun, so the guest ran on the target: check it there" : "the guest keeps running on the source")}",
                inner: e));
        }
        catch (StrataException e)
        {
            throw Failed(e);
        }
    }

    // The move's own error, with what the undo could not do (the caller must know about a copy left behind).
    private StrataException Failed(StrataException e) => _undoFailures.Count == 0 ? e
        : new StrataException(e.Kind, $"{e.Message}; cleaning up also failed: {string.Join("; ", _undoFailures)}", e.Field, e);

    private async Task<string> RunStateAsync(CancellationToken token) =>
        (await _source.ExecuteAsync("query-status", null, token).ConfigureAwait(false)).GetProperty("status").GetString() ?? "";

    private async Task ConfigureSourceAsync(CancellationToken token)
    {
        await SetCapabilitiesAsync(_source, new Dictionary<string, bool>
        {
            ["events"] = true,
            ["auto-converge"] = _options.AutoConverge,
            ["pause-before-switchover"] = _target.Disks.Count > 0,
            ["postcopy-ram"] = _options.Postcopy,
            // A guest restored from a template (GuestTemplate) keeps x-ignore-shared on: the stream then carries each RAM
            // block's address, and a target without the capability refuses it at the first RAM section. The whole RAM
            // goes to the target here (a template's memory file is not there), so the stream is the plain one.
            [IgnoreShared] = false,
        }, token).ConfigureAwait(false);
        await _source.ExecuteAsync("migrate-set-parameters", new JsonObject
        {
            ["downtime-limit"] = (long)_options.DowntimeLimit.TotalMilliseconds,
            ["max-bandwidth"] = _options.MaxBandwidth ?? MigrationOptions.UnlimitedBandwidth,
        }, token).ConfigureAwait(false);
    }

    private const string IgnoreShared = "x-ignore-shared";

    internal static async Task SetCapabilitiesAsync(QmpClient qmp, IReadOnlyDictionary<string, bool> capabilities, CancellationToken token)
    {
        var list = new JsonArray();
        foreach (var (name, state) in capabilities)
        {
            list.Add((JsonNode)new JsonObject { ["capability"] = name, ["state"] = state });
        }
        await qmp.ExecuteAsync("migrate-set-capabilities", new JsonObject { ["capabilities"] = list }, token).ConfigureAwait(false);
    }

    private async Task RestoreSourceAsync(SavedSettings saved, bool resume)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var failures = new List<string>();
        try
        {
            await SetCapabilitiesAsync(_source, saved.Capabilities, limit.Token).ConfigureAwait(false);
            await _source.ExecuteAsync("migrate-set-parameters", new JsonObject
            {
                ["downtime-limit"] = saved.DowntimeLimitMs,
                ["max-bandwidth"] = saved.MaxBandwidth,
            }, limit.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is QmpException or StrataException)
        {
            failures.Add($"restoring the source's migration settings: {e.Message}");
        }
        // After postcopy began, the source's RAM is stale: resuming it would run an old copy of the guest.
        // Nor when the target may run it: whoever settles the move (the caller) resumes it once the target is known to hold none.
        if (resume && !_target.MayHoldGuest && !await GuestLeftSourceAsync().ConfigureAwait(false))
        {
            // Paused by pause-before-switchover, or postmigrate after a completed migration whose target then failed:
            // cont takes the disks back and runs the guest here again.
            var state = await RunStateAsync(limit.Token).ConfigureAwait(false);
            if (state is "paused" or "postmigrate" or "finish-migrate")
            {
                await _source.ExecuteAsync("cont", null, limit.Token).ConfigureAwait(false);
            }
        }
        if (failures.Count > 0)
        {
            throw new StrataException(ErrorKind.Internal, string.Join("; ", failures));
        }
    }

    /// <summary>
    /// Whether postcopy began (the guest ran on the target, so the source's RAM is stale): seen by the loop, or, after
    /// <c>migrate-start-postcopy</c> was sent, read from QEMU now (the switch may have happened since the last poll).
    /// </summary>
    private async Task<bool> GuestLeftSourceAsync()
    {
        if (_postcopyEntered || !_postcopyRequested)
        {
            return _postcopyEntered;
        }
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var st = MigrationStatus.Parse(await _source.ExecuteAsync("query-migrate", null, limit.Token).ConfigureAwait(false));
        _postcopyEntered = st.IsPostcopy || st.Status == "completed";
        return _postcopyEntered;
    }

    private void Report(MigrationStatus status, MigrationPhase phase, bool force = false)
    {
        if (_progress is null)
        {
            return;
        }
        var now = _time.GetTimestamp();
        // A new QEMU state (setup -> active) is always reported: a throttled 'setup' must not hide the first RAM totals.
        if (!force && phase == _lastPhase && status.Status == _lastStatus && _time.GetElapsedTime(_lastReport, now) < _options.ProgressInterval)
        {
            return;
        }
        _lastReport = now;
        _lastPhase = phase;
        _lastStatus = status.Status;
        _ramReported |= phase == MigrationPhase.SendingRam && status.RamTotal > 0;
        _progress.Report(status.ToProgress(phase, _time.GetElapsedTime(_started, now), _mirrors.Sum(m => m.Copied), _mirrors.Sum(m => m.Total)));
    }

    /// <summary>Waits for the next QMP event (a state change) or the progress interval, whichever comes first.</summary>
    private async Task WaitForChangeAsync(TimeSpan interval, CancellationToken token)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(token);
        var evented = _source.Events.WaitToReadAsync(stop.Token).AsTask();
        var elapsed = Task.Delay(interval, _time, stop.Token);
        await Task.WhenAny(evented, elapsed).ConfigureAwait(false);
        await stop.CancelAsync().ConfigureAwait(false);
        while (_source.Events.TryRead(out _))
        {
            // Events only wake the loop; the state is read with a query.
        }
        token.ThrowIfCancellationRequested();
    }

    /// <summary>The source's migration settings before the move, put back when it is undone.</summary>
    private sealed record SavedSettings(Dictionary<string, bool> Capabilities, long DowntimeLimitMs, long MaxBandwidth)
    {
        private static readonly string[] Changed = ["events", "auto-converge", "pause-before-switchover", "postcopy-ram", IgnoreShared];

        public static async Task<SavedSettings> ReadAsync(QmpClient qmp, CancellationToken token)
        {
            var caps = await qmp.ExecuteAsync("query-migrate-capabilities", null, token).ConfigureAwait(false);
            var states = caps.EnumerateArray().ToDictionary(c => c.GetProperty("capability").GetString() ?? "", c => c.GetProperty("state").GetBoolean());
            var missing = Changed.Where(c => !states.ContainsKey(c)).ToList();
            if (missing.Count > 0)
            {
                throw new StrataException(ErrorKind.Unavailable, $"this QEMU lacks the migration capabilities {string.Join(", ", missing)}; live moves need QEMU 7.2 or newer");
            }
            var p = await qmp.ExecuteAsync("query-migrate-parameters", null, token).ConfigureAwait(false);
            return new SavedSettings(Changed.ToDictionary(c => c, c => states[c]),
                p.GetProperty("downtime-limit").GetInt64(), p.GetProperty("max-bandwidth").GetInt64());
        }
    }

    private sealed class Mirror(string device, string node, string job)
    {
        public string Device { get; } = device;
        public string Node { get; } = node;
        public string Job { get; } = job;
        public long Copied { get; set; }
        public long Total { get; set; }
        public bool Finished { get; set; }
    }

    private static JsonElement? FindJob(JsonElement jobs, string id) =>
        jobs.EnumerateArray().Where(j => j.GetProperty("id").GetString() == id).Select(j => (JsonElement?)j).FirstOrDefault();
}
