using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Strata.Client;
using Strata.Cluster;
using Strata.Cluster.Etcd;
using Strata.Testing;

/// <summary>
/// P8 in a cluster: <c>GET /v1/instances</c> (what <c>strata ps</c> fetches) through a published stratad joined to
/// the cluster, with N instances placed across three node records, each with its node's state report. Baseline in
/// the same rounds, alternating: the two etcd range reads the list is made of (the project's instance records and
/// the state reports), from the bench process, without HTTP or JSON shaping.
/// </summary>
internal static class ListBench
{
    public static async Task<int> RunAsync(EtcdCluster etcd, EtcdConnection client, int count, int rounds)
    {
        await ClusterBench.WipeAsync(client);
        var dir = Path.Combine(Path.GetTempPath(), "strata-c19-p8-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        var tokenFile = Path.Combine(dir, "cluster.token");
        File.WriteAllText(tokenFile, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) + "\n");
        File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var socket = Path.Combine(dir, "n.sock");
        var daemon = await PublishedDaemon.StartAsync(socket,
        [
            "--root", Path.Combine(dir, "root"), "--socket", socket, "--node", "c19-p8", "--listen", "127.0.0.1:" + TestEnvironment.FreeLoopbackPort(),
            "--token-file", Path.Combine(dir, "admin.token"), "--cluster", etcd.ConnectionString, "--cluster-token-file", tokenFile,
            "--enable-fake-tier", "--no-docker-socket",
        ]);
        try
        {
            // Three node records under one lease, N placed instances spread over them, each with its state report.
            var lease = await client.GrantLeaseAsync(TimeSpan.FromSeconds(3600));
            string[] nodes = ["p8-a", "p8-b", "p8-c"];
            await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (i, ct) =>
            {
                var node = nodes[i % nodes.Length];
                var d = ClusterBench.Instance(i) with { Node = node, Generation = 1, Placed = DateTimeOffset.UtcNow, Spec = null };
                await client.PutAsync(ClusterKeys.Instance(d.Project, d.Name), ClusterCodec.Encode(d, ClusterJson.Default.DesiredInstance), ct: ct);
                await client.PutAsync(ClusterKeys.State(node, d.Project, d.Name),
                    ClusterCodec.Encode(new InstanceReport("running", 1, DateTimeOffset.UtcNow), ClusterJson.Default.InstanceReport), lease, ct);
            });
            foreach (var node in nodes)
            {
                var cap = new ResourceAmounts(64_000, 256L << 30);
                await client.PutAsync(ClusterKeys.Node(node), ClusterCodec.Encode(new NodeRecord { Name = node, Address = "127.0.0.1:0", Capacity = cap, Free = cap, Lease = lease },
                    ClusterJson.Default.NodeRecord), lease);
            }
            using var api = new StrataClient(new ClientOptions { Socket = socket });
            var listed = System.Text.Json.JsonDocument.Parse(await api.GetTextAsync("v1/instances")).RootElement.GetProperty("items").GetArrayLength();
            if (listed != count)
            {
                Console.Error.WriteLine($"P8: the API listed {listed} instances, not {count}");
                return 1;
            }
            var apiTimes = new List<double>();
            var rawTimes = new List<double>();
            var bytes = 0;
            for (var r = 0; r < rounds; r++)
            {
                var sw = Stopwatch.StartNew();
                bytes = (await api.GetTextAsync("v1/instances")).Length;
                apiTimes.Add(sw.Elapsed.TotalMilliseconds);
                sw.Restart();
                await client.GetPrefixAsync(ClusterKeys.InstancesOf("default"), timeout: TimeSpan.FromSeconds(10));
                await client.GetPrefixAsync(ClusterKeys.States, timeout: TimeSpan.FromSeconds(10));
                rawTimes.Add(sw.Elapsed.TotalMilliseconds);
            }
            static double Median(List<double> v) => v.Order().ElementAt(v.Count / 2);
            static double P90(List<double> v) => v.Order().ElementAt(v.Count * 9 / 10);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"P8 cluster: GET /v1/instances with {count} instances on 3 nodes ({bytes / 1024} KiB): median {Median(apiTimes):0.0} ms (p90 {P90(apiTimes):0.0}, min {apiTimes.Min():0.0}; target <= 100); " +
                $"baseline, the same two etcd range reads from the bench: median {Median(rawTimes):0.0} ms (p90 {P90(rawTimes):0.0}); {rounds} alternating rounds; load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}"));
            return Median(apiTimes) <= 100 ? 0 : 1;
        }
        finally
        {
            await PublishedDaemon.KillAsync(daemon);
            Directory.Delete(dir, recursive: true);
        }
    }
}
