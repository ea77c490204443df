using System.Text.Json;
using Strata.Cluster.Rebalancing;
using Strata.Contracts;
using Strata.Control;
using Strata.Control.Operations;
using Strata.Control.Usage;
using Strata.Daemon.Cluster;
using Strata.Scheduler;
using Strata.Scheduler.Rebalancing;

namespace Strata.Daemon.Api;

/// <summary>
/// <c>GET /v1/rebalance</c>: the one move that best evens out the nodes' predicted load, with each candidate's reason
/// (a project token: its own instances only; others weigh on the loads but are never named). <c>POST
/// /v1/rebalance</c> (host administrators, cluster only): an operation that plans again and carries the move out
/// by node name, with progress, cancellable. docs/scheduler.md#rebalancing.
/// </summary>
public static class RebalanceEndpoints
{
    public const string OperationKind = "rebalance";

    public static void Map(IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/rebalance").WithTags("rebalancing");
        group.MapGet("/", async (double? threshold, HttpContext http, InstanceService service, UsageSampler usage) =>
        {
            var caller = Caller.Of(http);
            var project = caller.IsHostAdmin ? null : caller.Project;
            var rebalancer = Create(threshold);
            RebalanceDecision decision;
            if (http.RequestServices.GetService<ClusterNode>() is { } cluster)
            {
                var state = await cluster.RebalanceJournal.LoadAsync(http.RequestAborted);
                var nodes = await ClusterRebalance.ObserveAsync(cluster.Etcd, project, ct: http.RequestAborted);
                decision = rebalancer.Evaluate(nodes, state with { RoundsAbove = 0 }, DateTimeOffset.UtcNow);
            }
            else
            {
                decision = rebalancer.Evaluate([HostNode(service, usage, project)], new RebalanceState(), DateTimeOffset.UtcNow);
            }
            // The state names instances across projects; the caller gets its own project's only.
            decision = decision with
            {
                State = decision.State with
                {
                    LastMoved = decision.State.LastMoved.Where(m => project is null || m.Key.StartsWith(project + "/", StringComparison.Ordinal))
                        .ToDictionary(m => m.Key, m => m.Value, StringComparer.Ordinal),
                },
            };
            return Results.Json(decision, SchedulerJson.Default.RebalanceDecision);
        }).Produces<RebalanceDecision>()
          .WithSummary("What the rebalancer would move now and why (?threshold=0.2): node loads on predicted use, the move, each rejected candidate.");

        group.MapPost("/", (double? threshold, HttpContext http, OperationRegistry operations, ILoggerFactory logs) =>
        {
            var cluster = http.RequestServices.GetService<ClusterNode>()
                ?? throw StrataException.Conflict("this daemon is not a cluster node: a rebalance moves instances between nodes, and a single host is one node; 'strata rebalance' shows its predicted load");
            var loop = new RebalanceLoop(Create(threshold), RebalanceMode.Auto, ct => ClusterRebalance.ObserveAsync(cluster.Etcd, project: null, ct: ct),
                cluster.Mover, cluster.RebalanceJournal, logs.CreateLogger<RebalanceLoop>());
            var operation = operations.Start(OperationKind, "cluster", InstanceEndpoints.Project(http), async (op, ct) =>
            {
                op.SetMessage("planning on the nodes' predicted load");
                var outcome = await loop.RoundAsync(ct, op.SetMessage);
                if (outcome.Result == "failed")
                {
                    throw StrataException.Conflict($"{outcome.Decision.Summary}; the move failed: {outcome.Detail}");
                }
                return JsonSerializer.SerializeToElement(outcome, SchedulerJson.Default.RebalanceOutcome);
            });
            return Results.Json(operation.ToInfo(), StrataJsonContext.Default.OperationInfo, statusCode: StatusCodes.Status202Accepted);
        }).Produces<OperationInfo>(StatusCodes.Status202Accepted)
          .WithSummary("Plan and carry out one rebalance move between cluster nodes (host administrators); an operation to follow or cancel.");
    }

    /// <summary>The rebalancer of a request: one round decides (no waiting rounds), the threshold as asked.</summary>
    private static Rebalancer Create(double? threshold)
    {
        try
        {
            return new Rebalancer(new RebalanceOptions { Rounds = 1, Threshold = threshold ?? 0.20 });
        }
        catch (ArgumentException e)
        {
            throw StrataException.Invalid("threshold", e.Message);
        }
    }

    /// <summary>
    /// This host as one rebalance node: its running instances at their limits, predicted at their recommendation
    /// where a usage history exists (forecast: the memory forecast's peak), else at their limits. With a project,
    /// other projects' instances weigh on the load but are hidden.
    /// </summary>
    internal static RebalanceNode HostNode(InstanceService service, UsageSampler usage, string? project)
    {
        var host = HostCapacity.Current;
        var histories = usage.Recommend(null);
        var list = new List<RebalanceInstance>();
        foreach (var i in service.List().Where(i => i.State == InstanceState.Running))
        {
            var h = histories.FirstOrDefault(r => r.Name == i.Name && r.Project == i.Project && r.State != "removed" && r.Samples > 0);
            var limits = h is not null
                ? new Resources(Millis(h.Current.CpuCores), h.Current.MemoryBytes)
                : new Resources(Millis(i.Spec.Resources?.Cpus ?? 0), i.Spec.Resources?.MemoryBytes ?? 0);
            var predicted = h is null ? limits : new Resources(Millis(h.Cpu.Target), (long)h.Memory.Target);
            Resources? forecast = h is { ForecastMemoryPeak: > 0 } ? new Resources(predicted.CpuMillis, Math.Max(predicted.MemoryBytes, (long)h.ForecastMemoryPeak)) : null;
            list.Add(new RebalanceInstance(i.Name, i.Project, limits, predicted, forecast)
            {
                Tier = i.Tier.ToName(),
                History = h is not null,
                Hidden = project is not null && i.Project != project,
            });
        }
        return new RebalanceNode("this host", new Resources(host.Cpus * 1000L, host.MemoryBytes), list);
    }

    private static long Millis(double cores) => (long)Math.Round(cores * 1000);
}
