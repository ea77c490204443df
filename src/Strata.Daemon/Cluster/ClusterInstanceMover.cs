using System.Diagnostics;
using System.Globalization;
using Strata.Client;
using Strata.Cluster;
using Strata.Contracts;
using Strata.Scheduler.Rebalancing;

namespace Strata.Daemon.Cluster;

/// <summary>
/// Carries out a rebalance move as <c>strata move NAME --node TARGET</c> does (<see cref="ClusterMove"/>): the move is
/// asked of the source node with the cluster token in the instance's project, and followed to its end, each step
/// passed on as progress. Cancelled, it cancels the move on the source, which undoes it (the instance stays there).
/// </summary>
public sealed class ClusterInstanceMover(ClusterNode cluster) : IInstanceMover
{
    public async Task<string> MoveAsync(RebalanceMove move, Action<string>? progress, CancellationToken ct)
    {
        var source = (await ClusterView.NodesAsync(cluster.Etcd, ct).ConfigureAwait(false)).FirstOrDefault(n => n.Name == move.From)?.Record
            ?? throw new StrataException(ErrorKind.Unavailable, $"node {move.From} is offline, so {move.Instance} cannot be moved off it now; the next round plans again");
        using var client = new StrataClient(ClusterPeer.ClientOptionsFor(source, cluster.Token, move.Project));
        var started = Stopwatch.StartNew();
        var op = await client.MoveAsync(move.Instance, new MoveRequest { Node = move.To }, ct).ConfigureAwait(false);
        string? last = null;
        try
        {
            while (true)
            {
                var now = await client.WaitOperationAsync(op.Id, TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
                var step = now.Progress.Items.FirstOrDefault(i => i.Id == "move");
                var said = step?.Message ?? step?.Phase ?? now.Progress.Message;
                if (said is not null && said != last)
                {
                    progress?.Invoke($"moving {move.Instance} from {move.From} to {move.To}: {said}");
                    last = said;
                }
                if (!OperationStatusNames.IsFinished(now.Status))
                {
                    continue;
                }
                if (now.Status != OperationStatusNames.Succeeded)
                {
                    throw StrataException.Conflict(now.Error?.Detail ?? $"the move on node {move.From} ended {now.Status}");
                }
                return string.Create(CultureInfo.InvariantCulture, $"moved {move.Instance} from {move.From} to {move.To} in {started.Elapsed.TotalSeconds:0.0} s");
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            OperationInfo? after = null;
            try
            {
                // Answered once the source has undone the move: the instance runs there as before.
                after = await client.CancelOperationAsync(op.Id, CancellationToken.None).ConfigureAwait(false);
            }
            catch (StrataApiException)
            {
                after = await client.GetOperationAsync(op.Id, CancellationToken.None).ConfigureAwait(false); // it had finished meanwhile
            }
            if (after.Status == OperationStatusNames.Succeeded)
            {
                return $"moved {move.Instance} from {move.From} to {move.To} (it had switched before the cancel reached node {move.From})";
            }
            throw;
        }
    }
}
