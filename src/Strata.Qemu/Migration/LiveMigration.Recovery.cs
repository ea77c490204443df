using System.Text.Json.Nodes;
using Strata.Contracts;
using Strata.Qemu.Qmp;

namespace Strata.Qemu.Migration;

// What a move leaves in the source QEMU when the process that drove it died: undone at the next attach.
public sealed partial class LiveMigration
{
    /// <summary>
    /// Run on a source QEMU a new daemon attaches to: a move whose driver died (a migration under way or paused before
    /// the switchover, Strata's disk copy jobs and NBD client nodes) is cancelled and removed, and a guest that the
    /// move had paused runs again. The guest stays here: without the driver nobody confirmed the target. Returns what
    /// was undone, or null when there was nothing; a migration that had completed (the source <c>postmigrate</c>) is
    /// left as it is and reported.
    /// </summary>
    public static async Task<string?> AbandonAsync(QmpClient source, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        var undone = new List<string>();
        var migration = MigrationStatus.Parse(await source.ExecuteAsync("query-migrate", null, cancellationToken).ConfigureAwait(false));
        if (migration.IsActive)
        {
            try
            {
                await source.ExecuteAsync("migrate_cancel", null, cancellationToken).ConfigureAwait(false);
            }
            catch (QmpException)
            {
                // It ended on its own in between.
            }
            for (var i = 0; i < 1500 && MigrationStatus.Parse(await source.ExecuteAsync("query-migrate", null, cancellationToken).ConfigureAwait(false)).IsActive; i++)
            {
                await Task.Delay(20, cancellationToken).ConfigureAwait(false);
            }
            undone.Add($"a migration ({migration.Status}) cancelled");
        }
        var jobs = await source.ExecuteAsync("query-jobs", null, cancellationToken).ConfigureAwait(false);
        foreach (var job in jobs.EnumerateArray())
        {
            var id = job.GetProperty("id").GetString() ?? "";
            if (!id.StartsWith(JobPrefix, StringComparison.Ordinal))
            {
                continue;
            }
            for (var i = 0; i < 1500; i++)
            {
                var now = await source.ExecuteAsync("query-jobs", null, cancellationToken).ConfigureAwait(false);
                var status = FindJob(now, id)?.GetProperty("status").GetString();
                if (status is null)
                {
                    break;
                }
                if (status == "concluded")
                {
                    await source.ExecuteAsync("job-dismiss", new JsonObject { ["id"] = id }, cancellationToken).ConfigureAwait(false);
                    break;
                }
                if (status is not ("aborting" or "waiting" or "pending"))
                {
                    try
                    {
                        await source.ExecuteAsync("block-job-cancel", new JsonObject { ["device"] = id, ["force"] = true }, cancellationToken).ConfigureAwait(false);
                    }
                    catch (QmpException)
                    {
                    }
                }
                await Task.Delay(20, cancellationToken).ConfigureAwait(false);
            }
            undone.Add($"disk copy job {id} cancelled");
        }
        var nodes = await source.ExecuteAsync("query-named-block-nodes", new JsonObject { ["flat"] = true }, cancellationToken).ConfigureAwait(false);
        foreach (var name in nodes.EnumerateArray().Select(n => n.GetProperty("node-name").GetString() ?? "").Where(n => n.StartsWith(NodePrefix, StringComparison.Ordinal)).Distinct().ToList())
        {
            try
            {
                await source.ExecuteAsync("blockdev-del", new JsonObject { ["node-name"] = name }, cancellationToken).ConfigureAwait(false);
                undone.Add($"NBD node {name} removed");
            }
            catch (QmpException e)
            {
                undone.Add($"NBD node {name} could not be removed ({e.Description})");
            }
        }
        var state = (await source.ExecuteAsync("query-status", null, cancellationToken).ConfigureAwait(false)).GetProperty("status").GetString();
        if (state == "paused" && migration.IsActive)
        {
            // Paused by the move (before the switchover), not by anyone else: it runs again.
            await source.ExecuteAsync("cont", null, cancellationToken).ConfigureAwait(false);
            undone.Add("the guest resumed");
        }
        else if (state == "postmigrate")
        {
            undone.Add("the migration had completed (the source is postmigrate): the guest's state went to the target, which did not confirm it to this daemon; check the target before removing this copy");
        }
        return undone.Count == 0 ? null : string.Join("; ", undone);
    }
}
