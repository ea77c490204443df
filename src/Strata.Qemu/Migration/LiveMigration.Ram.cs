using System.Text.Json.Nodes;
using Strata.Contracts;
using Strata.Contracts.Host;
using Strata.Qemu.Qmp;

namespace Strata.Qemu.Migration;

// RAM and device state: migrate, progress, switchover, postcopy on request.
public sealed partial class LiveMigration
{
    private int _maxThrottle;

    private async Task<MigrationStatus> SendRamAsync(Revert revert, CancellationToken token)
    {
        // Added before 'migrate' so that a migration QEMU started just before a failure is cancelled too.
        revert.AddAsync(CancelMigrationAsync);
        await _source.ExecuteAsync("migrate", new JsonObject { ["uri"] = _target.RamUri }, token).ConfigureAwait(false);
        var released = false;
        while (true)
        {
            // Once the guest runs on the target in postcopy it cannot go back: only the deadline still applies.
            var step = _postcopyEntered ? _timeoutOnly : token;
            var st = MigrationStatus.Parse(await _source.ExecuteAsync("query-migrate", null, step).ConfigureAwait(false));
            _maxThrottle = Math.Max(_maxThrottle, st.ThrottlePercent);
            switch (st.Status)
            {
                case "completed":
                    // A postcopy switch may have come and gone between two polls.
                    _postcopyEntered |= _postcopyRequested;
                    if (!_ramReported && !_postcopyEntered)
                    {
                        // A small or idle guest can go from 'setup' to 'completed' between two polls: the caller still
                        // sees the RAM pass (its totals are final) before the completion.
                        Report(st, MigrationPhase.SendingRam, force: true);
                    }
                    return st;
                case "failed":
                    throw new StrataException(ErrorKind.Unavailable,
                        $"the migration failed: {st.Error ?? "QEMU gave no reason"}{(_target.Exited.IsCompleted ? " (the target QEMU exited)" : "")}; the guest keeps running on the source");
                case "cancelling" or "cancelled":
                    throw new StrataException(ErrorKind.Unavailable, "the migration was cancelled inside QEMU (by another QMP client?); the guest keeps running on the source");
                case "pre-switchover" when !released:
                    Report(st, MigrationPhase.SwitchingOver, force: true);
                    await FinishMirrorsAsync(token).ConfigureAwait(false);
                    // QEMU leaves the state only after this returns, so a poll right after may still read it: once only.
                    released = true;
                    await _source.ExecuteAsync("migrate-continue", new JsonObject { ["state"] = "pre-switchover" }, token).ConfigureAwait(false);
                    continue;
            }
            if (st.IsPostcopy)
            {
                _postcopyEntered = true;
            }
            else if (_options.Postcopy && !_postcopyRequested && st.Status == "active" && st.Iterations >= 2)
            {
                // The first full pass is done: what is still dirty now is what precopy may never catch up with.
                _postcopyRequested = true;
                await _source.ExecuteAsync("migrate-start-postcopy", null, token).ConfigureAwait(false);
            }
            Report(st, st.IsPostcopy ? MigrationPhase.Postcopy : st.Status is "device" or "pre-switchover" ? MigrationPhase.SwitchingOver : MigrationPhase.SendingRam);
            if (_target.Exited.IsCompleted)
            {
                throw new StrataException(ErrorKind.Unavailable, _postcopyEntered
                    ? "the target QEMU exited during postcopy: the guest's state was split between both sides and is lost"
                    : "the target QEMU exited during the migration; the guest keeps running on the source");
            }
            await WaitForChangeAsync(_options.ProgressInterval, step).ConfigureAwait(false);
        }
    }

    /// <summary>Undo: cancels a migration still under way and waits until QEMU has stopped it (the source then runs on).</summary>
    private async Task CancelMigrationAsync()
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var st = MigrationStatus.Parse(await _source.ExecuteAsync("query-migrate", null, limit.Token).ConfigureAwait(false));
        if (!st.IsActive)
        {
            return;
        }
        try
        {
            await _source.ExecuteAsync("migrate_cancel", null, limit.Token).ConfigureAwait(false);
        }
        catch (QmpException)
        {
            // It ended on its own in between; the loop below reads how.
        }
        while (st.IsActive)
        {
            await Task.Delay(20, limit.Token).ConfigureAwait(false);
            st = MigrationStatus.Parse(await _source.ExecuteAsync("query-migrate", null, limit.Token).ConfigureAwait(false));
        }
    }
}
