using Strata.Client;
using Strata.Contracts;

namespace Strata.Bench.Core;

/// <summary>Removing what a bench run created: its own instances at the end, and leftovers of interrupted runs.</summary>
public sealed partial class BenchEngine
{
    /// <summary>
    /// Removes the instances of earlier bench runs that were killed before their cleanup (SIGKILL runs no
    /// <c>finally</c>): every instance labelled <c>strata-bench</c>. Returns their names. <c>strata bench</c> does
    /// this first; <c>strata bench --clean</c> does only this.
    /// </summary>
    public static async Task<IReadOnlyList<string>> RemoveLeftoversAsync(StrataClient client, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(client);
        var list = await client.ListAsync(ct).ConfigureAwait(false);
        var removed = new List<string>();
        foreach (var i in list.Items.Where(i => i.Spec.Labels is { } l && l.ContainsKey(InstanceTracker.Label)))
        {
            await DeleteQuietlyAsync(client, i.Name, ct).ConfigureAwait(false);
            removed.Add(i.Name);
        }
        return removed;
    }

    /// <summary>What a run says after removing leftovers of an interrupted one.</summary>
    public static string LeftoversRemoved(IReadOnlyList<string> names) =>
        $"removed {names.Count} leftover instance{(names.Count == 1 ? "" : "s")} of an interrupted bench run: {string.Join(", ", names)}";

    private async Task CleanupAsync(InstanceTracker tracker)
    {
        // Never with the caller's token: cleanup must also happen after Ctrl-C.
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        Report("cleanup", "removing every bench instance");
        try
        {
            foreach (var name in tracker.Names)
            {
                await DeleteQuietlyAsync(name, cts.Token).ConfigureAwait(false);
            }
            // Auto-removed runs finish their removal in the daemon: wait until none of ours is listed.
            while (!cts.IsCancellationRequested)
            {
                var left = (await client.ListAsync(cts.Token).ConfigureAwait(false)).Items
                    .Where(i => i.Spec.Labels is { } l && l.TryGetValue(InstanceTracker.Label, out var id) && id == tracker.RunId).ToList();
                if (left.Count == 0)
                {
                    return;
                }
                foreach (var i in left)
                {
                    await DeleteQuietlyAsync(i.Name, cts.Token).ConfigureAwait(false);
                }
                await Task.Delay(100, cts.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or StrataApiException or DaemonUnreachableException)
        {
            _notes.Add($"cleanup incomplete ({e.Message}); remove leftovers with: strata ps -a, strata rm -f NAME (they are named {InstanceTracker.Prefix}{tracker.RunId}-…)");
        }
    }

    private Task DeleteQuietlyAsync(string name, CancellationToken ct) => DeleteQuietlyAsync(client, name, ct);

    private static async Task DeleteQuietlyAsync(StrataClient client, string name, CancellationToken ct)
    {
        try
        {
            await client.DeleteAsync(name, force: true, ct).ConfigureAwait(false);
        }
        catch (StrataApiException e) when (e.Kind is ErrorKind.NotFound or ErrorKind.Conflict)
        {
            // Already gone (auto-removed), or being removed right now.
        }
    }
}
