using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Strata.Cluster;
using Strata.Cluster.Etcd;
using Strata.Testing;

// End-to-end placement through etcd: a 3-member etcd cluster on loopback (the test fixture), N simulated nodes
// registered under leases, M instances admitted (quota-checked; one transaction each, then with group commit), then the scheduler leader
// places them in batches, each batch one transaction fenced on the leader key, the node records and the pending
// keys. Baseline in the same run, on the same cluster: raw etcd puts of values of the same size, from one client
// and from 64 concurrent ones (etcd 3.4's own figures: 583 writes/s from one client, 44,341/s from 1,000).
// With --list N (0 skips it), then P8 in a cluster: GET /v1/instances through a published stratad over N placed
// instances on three nodes, beside the etcd range reads it is made of (ListBench).
//   dotnet run -c Release --project bench/Strata.Bench.Cluster -- [--runs 3] [--nodes 100] [--instances 10000] [--batch 300] [--admit 500] [--list 10000] [--list-rounds 30]
var runs = 3;
var nodeCount = 100;
var instances = 10_000;
var batch = 300;
var admit = 500;
var list = 10_000;
var listRounds = 30;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--runs": runs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--nodes": nodeCount = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--instances": instances = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--batch": batch = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--admit": admit = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--list": list = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--list-rounds": listRounds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        default: Console.Error.WriteLine($"unknown option {args[i]}; use --runs N, --nodes N, --instances N, --batch N, --admit N, --list N, --list-rounds N"); return 2;
    }
}
const double Target = 2_000;
var etcd = new EtcdCluster();
await etcd.InitializeAsync();
try
{
    using var client = new EtcdConnection(etcd.ConnectionString, TimeSpan.FromSeconds(10));
    var options = new ClusterOptions { PlacementBatch = batch, LeaseTtl = TimeSpan.FromSeconds(60) };
    var value = ClusterCodec.Encode(ClusterBench.Instance(0), ClusterJson.Default.DesiredInstance);
    Console.WriteLine($"etcd 3 members on loopback; {nodeCount} nodes, {instances} instances per run, batch {batch}; value {value.Length} B; load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
    var placedRates = new List<double>();
    var admitRates = new List<double>();
    var aloneRates = new List<double>();
    var rawOne = new List<double>();
    var rawMany = new List<double>();
    for (var run = 1; run <= runs; run++)
    {
        await ClusterBench.WipeAsync(client);
        // Baseline: raw puts, 1 client then 64.
        rawOne.Add(await ClusterBench.RawPutsAsync(client, 2_000, 1, value, $"raw1-{run}"));
        rawMany.Add(await ClusterBench.RawPutsAsync(client, instances, 64, value, $"raw64-{run}"));
        await ClusterBench.WipeAsync(client);
        await ClusterBench.RegisterNodesAsync(client, nodeCount);
        // Admission through the API path: 64 concurrent calls of one project spread over three nodes' admission
        // paths (each its own etcd connection), quota-checked on the project's usage record. Baseline first: each
        // admission its own transaction (they serialise on the usage record); then with group commit per node.
        aloneRates.Add(await ClusterBench.AdmitAsync(etcd, options with { AdmissionBatch = 1 }, admit));
        await ClusterBench.WipeAsync(client, ClusterKeys.Pending);
        await ClusterBench.WipeAsync(client, ClusterKeys.Usage);
        admitRates.Add(await ClusterBench.AdmitAsync(etcd, options, admit));
        var sw = Stopwatch.StartNew();
        // The rest are queued as admission leaves them (pending records), untimed, so the placement below has a full queue.
        await Parallel.ForEachAsync(Enumerable.Range(admit, instances - admit), new ParallelOptions { MaxDegreeOfParallelism = 64 },
            async (i, ct) =>
            {
                var d = ClusterBench.Instance(i);
                await client.PutAsync(ClusterKeys.PendingOf(d.Project, d.Name), ClusterCodec.Encode(d, ClusterJson.Default.DesiredInstance), ct: ct);
            });
        // Placement: the leader drains the queue.
        var lease = await client.GrantLeaseAsync(TimeSpan.FromSeconds(60));
        var leader = await client.CampaignAsync(ClusterKeys.Election, lease, "bench", CancellationToken.None);
        var placer = new PlacementCommitter(client, options, new Strata.Scheduler.Scheduler(), NullLogger.Instance);
        sw.Restart();
        while (await placer.PlacePendingAsync(leader, CancellationToken.None) > 0 || placer.Committed < instances)
        {
        }
        var rate = instances / sw.Elapsed.TotalSeconds;
        placedRates.Add(rate);
        var placedNow = (await client.GetPrefixAsync(ClusterKeys.Assignments, keysOnly: true, timeout: TimeSpan.FromSeconds(30))).Kvs.Count;
        await client.RevokeLeaseAsync(lease);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"run {run}: placed {rate,8:0}/s ({placedNow} committed, {placer.Conflicts} conflicts); admitted {admitRates[^1],7:0}/s (group commit) vs {aloneRates[^1],5:0}/s (one transaction each); raw puts 1 client {rawOne[^1],7:0}/s, 64 clients {rawMany[^1],7:0}/s"));
        if (placedNow != instances)
        {
            Console.Error.WriteLine($"run {run}: {placedNow} assignments for {instances} instances");
            return 1;
        }
    }
    static double Median(List<double> v) => v.Order().ElementAt(v.Count / 2);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"median: committed placements {Median(placedRates):0}/s (target >= {Target:0}), admissions {Median(admitRates):0}/s with group commit vs {Median(aloneRates):0}/s one transaction each; baseline raw puts {Median(rawOne):0}/s (1 client), {Median(rawMany):0}/s (64 clients)"));
    var listed = list > 0 ? await ListBench.RunAsync(etcd, client, list, listRounds) : 0;
    return Median(placedRates) >= Target && listed == 0 ? 0 : 1;
}
finally
{
    await etcd.DisposeAsync();
}

internal static class ClusterBench
{
    public static DesiredInstance Instance(int i) => new()
    {
        Project = "default",
        Name = "i-" + i.ToString("D6", CultureInfo.InvariantCulture),
        Tier = (i % 3) switch { 0 => "container", 1 => "wasm", _ => "process" },
        Resources = new ResourceAmounts(100 + (i % 10) * 50, (64L + (i % 8) * 64) << 20),
        Restart = "always",
        Stateless = true,
    };

    public static async Task WipeAsync(EtcdConnection c, string prefix = "/") =>
        await c.RunAsync((inv, d, t) => new Etcdserverpb.KV.KVClient(inv).DeleteRangeAsync(new Etcdserverpb.DeleteRangeRequest
        {
            Key = EtcdConnection.Bytes(prefix),
            RangeEnd = EtcdConnection.PrefixEnd(prefix),
        }, deadline: d, cancellationToken: t).ResponseAsync, timeout: TimeSpan.FromSeconds(60));

    /// <summary>Admissions/s of <paramref name="count"/> instances, 64 at a time, through three nodes' admission paths.</summary>
    public static async Task<double> AdmitAsync(EtcdCluster etcd, ClusterOptions options, int count)
    {
        var nodes = Enumerable.Range(0, 3).Select(_ => new EtcdConnection(etcd.ConnectionString, TimeSpan.FromSeconds(10))).ToList();
        try
        {
            var apis = nodes.Select(c => new ClusterInstances(c, options)).ToList();
            var sw = Stopwatch.StartNew();
            await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 64 },
                async (i, ct) => await apis[i % apis.Count].AdmitAsync(Instance(i), ct));
            return count / sw.Elapsed.TotalSeconds;
        }
        finally
        {
            nodes.ForEach(c => c.Dispose());
        }
    }

    public static async Task RegisterNodesAsync(EtcdConnection c, int count)
    {
        var lease = await c.GrantLeaseAsync(TimeSpan.FromSeconds(3600));
        for (var n = 0; n < count; n++)
        {
            var name = "node-" + n.ToString("D4", CultureInfo.InvariantCulture);
            var cap = new ResourceAmounts(64_000, 256L << 30, 1L << 40, 100_000);
            await c.PutAsync(ClusterKeys.Node(name), ClusterCodec.Encode(new NodeRecord
            {
                Name = name,
                Address = "127.0.0.1:0",
                Capacity = cap,
                Free = cap,
                Tiers = [new TierOffer("container"), new TierOffer("wasm"), new TierOffer("process")],
                Lease = lease,
            }, ClusterJson.Default.NodeRecord), lease);
            await c.PutAsync(ClusterKeys.Settings(name), ClusterCodec.Encode(new NodeSettings(), ClusterJson.Default.NodeSettings));
        }
    }

    public static async Task<double> RawPutsAsync(EtcdConnection c, int count, int clients, Google.Protobuf.ByteString value, string prefix)
    {
        var sw = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = clients },
            async (i, ct) => await c.PutAsync("/bench/" + prefix + "/" + i.ToString(CultureInfo.InvariantCulture), value, ct: ct));
        return count / sw.Elapsed.TotalSeconds;
    }
}
