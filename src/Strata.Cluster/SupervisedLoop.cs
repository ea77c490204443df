using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Strata.Cluster.Etcd;

namespace Strata.Cluster;

/// <summary>
/// Runs one of the cluster's background loops (node lease renewal, node agent, state reports, scheduler
/// campaign, caches) so that it never ends silently. The loop is a <em>pass</em> run again and again until the
/// node stops: a pass that returns is started again at once; one that fails is logged and started again after a
/// backoff (doubling from the first retry up to the longest, back to the first once a pass has run that long).
/// etcd being unavailable or refusing a request is expected and logged as a warning; any other exception is a
/// fault of the pass, logged as an error with its stack trace, and the pass still starts again.
/// </summary>
public static partial class SupervisedLoop
{
    /// <summary>Starts <paramref name="pass"/> on the thread pool under supervision; the task ends when <paramref name="ct"/> is cancelled.</summary>
    public static Task Start(string name, Func<CancellationToken, Task> pass, ILogger log, CancellationToken ct, TimeSpan? firstRetry = null, TimeSpan? longestRetry = null) =>
        Task.Run(() => RunAsync(name, pass, log, ct, firstRetry ?? TimeSpan.FromMilliseconds(500), longestRetry ?? TimeSpan.FromSeconds(10)), CancellationToken.None);

    public static async Task RunAsync(string name, Func<CancellationToken, Task> pass, ILogger log, CancellationToken ct, TimeSpan firstRetry, TimeSpan longestRetry)
    {
        var retry = firstRetry;
        while (!ct.IsCancellationRequested)
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                await pass(ct).ConfigureAwait(false);
                retry = firstRetry;
                continue;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is EtcdUnavailableException or EtcdRequestException)
            {
                if (Stopwatch.GetElapsedTime(started) >= longestRetry)
                {
                    retry = firstRetry;
                }
                LogEtcdFailed(log, name, e.Message, retry.TotalSeconds);
            }
            catch (Exception e)
            {
                if (Stopwatch.GetElapsedTime(started) >= longestRetry)
                {
                    retry = firstRetry;
                }
                LogFaulted(log, e, name, e.GetType().Name, e.Message, retry.TotalSeconds);
            }
            try
            {
                await Task.Delay(retry, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            retry = TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, longestRetry.Ticks));
        }
    }
}
