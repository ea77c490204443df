using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Strata.Client;
using Strata.Contracts;

namespace Strata.Cli;

/// <summary>
/// <c>strata create</c> and <c>strata run -d</c>: the create runs as an operation of the daemon. A create still going
/// after <see cref="QuietFor"/> (an image's first disk build, a template boot, layers to unpack) shows its steps on
/// stderr, one line each, so stdout keeps only the name (or, with <c>--json</c>, the instance's JSON). Ctrl-C cancels
/// the create on the daemon, which removes whatever it had made; a second Ctrl-C leaves at once.
/// </summary>
internal static class CreateProgressView
{
    /// <summary>Fast creates (most containers, processes) print nothing but their result.</summary>
    private static readonly TimeSpan QuietFor = TimeSpan.FromMilliseconds(250);

    public static async Task<InstanceInfo> CreateAsync(StrataClient client, InstanceSpec spec, bool start, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var operation = await client.CreateOperationAsync(spec, start, ct);
        var what = spec.Name ?? operation.Target;
        using var sigint = OperationCommands.CancelOnInterrupt(client, operation, $"cancelling the create of {what}");

        var final = operation;
        ProgressItem? pending = null;
        string? shown = null;
        void Show(ProgressItem item)
        {
            var line = item.Message ?? item.Id;
            if (item.Phase == "running" && line != shown)
            {
                shown = line;
                Console.Error.WriteLine($"strata: {line}");
            }
        }
        await foreach (var e in client.WatchOperationAsync(operation.Id, CancellationToken.None))
        {
            // The first event is the operation as it is: its current step, if one has begun, counts as the latest news.
            var latest = e.Item ?? (e.Operation is { } now && !OperationStatusNames.IsFinished(now.Status)
                ? now.Progress.Items.LastOrDefault(i => i.Phase == "running") : null);
            if (latest is { } item)
            {
                // Held back until the create has been going for a while; then the current step, and every one after it.
                if (clock.Elapsed < QuietFor)
                {
                    pending = item;
                    continue;
                }
                if (pending is { } held)
                {
                    pending = null;
                    Show(held);
                }
                Show(item);
            }
            final = e.Operation ?? final;
        }
        if (!OperationStatusNames.IsFinished(final.Status))
        {
            // The stream ended early (daemon restarted?): ask once more.
            final = await client.GetOperationAsync(operation.Id, CancellationToken.None);
        }
        switch (final.Status)
        {
            case OperationStatusNames.Succeeded when final.Result is { } result:
                return result.Deserialize(StrataJsonContext.Default.InstanceInfo)!;
            case OperationStatusNames.Cancelled:
                Console.Error.WriteLine($"strata: the create of {what} was cancelled; nothing of it was kept");
                throw new OperationCanceledException();
            default:
                throw final.Error is { } problem ? StrataApiException.From(problem)
                    : new StrataApiException(ErrorKind.Internal, 500, $"the create of {what} ended {final.Status} without a result", null);
        }
    }
}
