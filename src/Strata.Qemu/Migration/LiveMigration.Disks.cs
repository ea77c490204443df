using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Strata.Contracts;
using Strata.Contracts.Host;
using Strata.Qemu.Qmp;

namespace Strata.Qemu.Migration;

// Local disks: blockdev-mirror to the target's NBD export while the guest runs (the deprecated 'blk' migration is not used).
public sealed partial class LiveMigration
{
    private static readonly TimeSpan SwitchoverPoll = TimeSpan.FromMilliseconds(5);

    private async Task MirrorDisksAsync(Revert revert, CancellationToken token)
    {
        var nbd = _target.Nbd ?? throw StrataException.Invalid("target", "the target receives disks but gives no NBD address");
        for (var i = 0; i < _target.Disks.Count; i++)
        {
            var mirror = new Mirror(_target.Disks[i], NodePrefix + i.ToString(CultureInfo.InvariantCulture), JobPrefix + i.ToString(CultureInfo.InvariantCulture));
            var server = nbd.UnixPath is not null
                ? new JsonObject { ["type"] = "unix", ["path"] = nbd.UnixPath }
                : new JsonObject { ["type"] = "inet", ["host"] = nbd.Host, ["port"] = nbd.Port.ToString(CultureInfo.InvariantCulture) };
            await _source.ExecuteAsync("blockdev-add", new JsonObject
            {
                ["driver"] = "nbd",
                ["node-name"] = mirror.Node,
                ["server"] = server,
                ["export"] = mirror.Device,
            }, token).ConfigureAwait(false);
            revert.AddAsync(() => DeleteNodeAsync(mirror.Node));
            var args = new JsonObject
            {
                ["job-id"] = mirror.Job,
                ["device"] = mirror.Device,
                ["target"] = mirror.Node,
                ["sync"] = "full",
                ["auto-dismiss"] = false,
            };
            if (_options.MaxBandwidth is long speed)
            {
                args["speed"] = speed;
            }
            await _source.ExecuteAsync("blockdev-mirror", args, token).ConfigureAwait(false);
            _mirrors.Add(mirror);
            revert.AddAsync(() => AbortJobAsync(mirror));
        }

        var idle = new MigrationStatus();
        while (true)
        {
            var jobs = await _source.ExecuteAsync("query-jobs", null, token).ConfigureAwait(false);
            var ready = 0;
            foreach (var m in _mirrors)
            {
                var job = FindJob(jobs, m.Job);
                var status = job?.GetProperty("status").GetString();
                if (job is not { } j || status is "concluded" or "aborting" or "null")
                {
                    var error = job is { } k && k.TryGetProperty("error", out var e) ? e.GetString() : null;
                    throw new StrataException(ErrorKind.Unavailable,
                        $"copying disk {m.Device} to the target stopped: {error ?? "the job ended before it caught up"}{(_target.Exited.IsCompleted ? " (the target QEMU exited)" : "")}; the guest keeps running on the source");
                }
                m.Copied = j.GetProperty("current-progress").GetInt64();
                m.Total = j.GetProperty("total-progress").GetInt64();
                ready += status == "ready" ? 1 : 0;
            }
            Report(idle, MigrationPhase.CopyingDisks);
            if (ready == _mirrors.Count)
            {
                return;
            }
            if (_target.Exited.IsCompleted)
            {
                throw new StrataException(ErrorKind.Unavailable, "the target QEMU exited while the disks were copied; the guest keeps running on the source");
            }
            await WaitForChangeAsync(_options.ProgressInterval, token).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// At pre-switchover (the source is paused, so no new writes): a soft cancel of a READY mirror copies what is still
    /// dirty and ends the job without switching the source to the copy. Then the target holds the same disk as the source.
    /// </summary>
    private async Task FinishMirrorsAsync(CancellationToken token)
    {
        foreach (var m in _mirrors.Where(m => !m.Finished))
        {
            await _source.ExecuteAsync("block-job-cancel", new JsonObject { ["device"] = m.Job }, token).ConfigureAwait(false);
        }
        while (true)
        {
            var jobs = await _source.ExecuteAsync("query-jobs", null, token).ConfigureAwait(false);
            var done = 0;
            foreach (var m in _mirrors.Where(m => !m.Finished))
            {
                if (FindJob(jobs, m.Job) is not { } job)
                {
                    throw new StrataException(ErrorKind.Internal, $"the copy job of disk {m.Device} vanished before it concluded");
                }
                m.Copied = job.GetProperty("current-progress").GetInt64();
                if (job.GetProperty("status").GetString() != "concluded")
                {
                    continue;
                }
                if (job.TryGetProperty("error", out var error))
                {
                    throw new StrataException(ErrorKind.Unavailable, $"the last copy of disk {m.Device} to the target failed: {error.GetString()}; the guest keeps running on the source");
                }
                done++;
            }
            if (done == _mirrors.Count(m => !m.Finished))
            {
                break;
            }
            await WaitForChangeAsync(SwitchoverPoll, token).ConfigureAwait(false);
        }
        // Dismissed after the switchover (RemoveMirrorsAsync, or the undo): one round trip less while the guest is paused.
        foreach (var m in _mirrors)
        {
            m.Finished = true;
        }
    }

    /// <summary>Undo: stops a copy job at once (force: no final sync) and removes it.</summary>
    private async Task AbortJobAsync(Mirror mirror)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var jobs = await _source.ExecuteAsync("query-jobs", null, limit.Token).ConfigureAwait(false);
            var status = FindJob(jobs, mirror.Job)?.GetProperty("status").GetString();
            if (status is null)
            {
                return;
            }
            if (status == "concluded")
            {
                await _source.ExecuteAsync("job-dismiss", new JsonObject { ["id"] = mirror.Job }, limit.Token).ConfigureAwait(false);
                return;
            }
            if (status is not ("aborting" or "waiting" or "pending"))
            {
                try
                {
                    await _source.ExecuteAsync("block-job-cancel", new JsonObject { ["device"] = mirror.Job, ["force"] = true }, limit.Token).ConfigureAwait(false);
                }
                catch (QmpException)
                {
                    // Already on its way out; the next query tells.
                }
            }
            await Task.Delay(20, limit.Token).ConfigureAwait(false);
        }
    }

    private async Task DeleteNodeAsync(string node)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _source.ExecuteAsync("blockdev-del", new JsonObject { ["node-name"] = node }, limit.Token).ConfigureAwait(false);
    }

    /// <summary>After success: the concluded jobs and the NBD client nodes are no longer needed (the target has stopped its server).</summary>
    private async Task RemoveMirrorsAsync()
    {
        foreach (var m in _mirrors)
        {
            try
            {
                using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await _source.ExecuteAsync("job-dismiss", new JsonObject { ["id"] = m.Job }, limit.Token).ConfigureAwait(false);
                await DeleteNodeAsync(m.Node).ConfigureAwait(false);
            }
            catch (Exception e) when (e is QmpException or StrataException or OperationCanceledException)
            {
                // The source is left in postmigrate and is about to be stopped; a node it keeps open costs nothing.
            }
        }
    }
}
