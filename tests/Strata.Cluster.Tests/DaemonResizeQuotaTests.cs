using System.Text.Json;
using Strata.Client;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Cluster.Tests;

/// <summary>
/// <c>strata resize</c> on two published stratad nodes and the shared etcd: one project with a 256 MiB memory
/// quota has fake instances on both nodes. A growth asked of either node (run there or relayed to the instance's
/// node) is counted in etcd against the project's use on every node, so one that fits the node's own instances but
/// not the cluster's is refused with 403; a shrink gives back; a resize the tier fails leaves nothing counted; two
/// growths at once through the two nodes never pass the quota together; a second project's token finds nothing.
/// <c>recommend --apply</c> and the <c>auto</c> loop go through the same count.
/// </summary>
[Collection(EtcdCollection.Name)]
public sealed class DaemonResizeQuotaTests(EtcdCluster etcd) : IAsyncLifetime
{
    private const long MiB = 1L << 20;
    private readonly ClusterDaemons _daemons = new(etcd, "rs29quota");

    public async Task InitializeAsync()
    {
        _ = PublishedDaemon.Binary; // skips (fails under CI) when stratad is not published
        await using (var h = new ClusterHarness(etcd))
        {
            await h.WipeAsync();
        }
        foreach (var node in new[] { "rq1", "rq2" })
        {
            // Samples every second; the auto loop acts on one sample off its target with no cooldown (only for instances set to auto).
            await _daemons.StartAsync(node, extra: ["--usage-interval", "1", "--rightsize-samples", "1", "--rightsize-cooldown", "0"]);
        }
    }

    public async Task DisposeAsync() => await _daemons.DisposeAsync();

    private static InstanceSpec Fake(string name, string node, long memory, params string[] args) => new()
    {
        Name = name,
        Tier = "fake",
        Args = args.Length > 0 ? args : ["sleep"],
        Resources = new ResourceSpec { Cpus = 1, MemoryBytes = memory },
        Labels = new Dictionary<string, string> { ["strata.cluster/node"] = node },
    };

    [SkippableFact]
    public async Task GrowingPastTheProjectsQuotaAcrossNodes_IsRefusedOnEither_AShrinkGivesBack_AFailedResizeCountsNothing_AnotherProjectFindsNothing()
    {
        var (rq1, rq2) = (_daemons.Nodes[0], _daemons.Nodes[1]);
        Assert.True(await TestEnvironment.EventuallyAsync(() =>
            JsonDocument.Parse(rq1.Socket.NodesJsonAsync().GetAwaiter().GetResult()).RootElement.EnumerateArray().Count(n => n.GetProperty("status").GetString() == "online") == 2,
            TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(200)), "the two nodes were not online");
        await rq1.Socket.CreateProjectAsync(new CreateProjectRequest
        {
            Name = "rqteam",
            Quota = new ProjectQuota { MemoryBytes = 256 * MiB, Cpus = 8 },
            Restrictions = new ProjectRestrictions { AllowedTiers = ["fake"] },
        });
        await rq1.Socket.CreateProjectAsync(new CreateProjectRequest { Name = "rqother", Restrictions = new ProjectRestrictions { AllowedTiers = ["fake"] } });
        var teamToken = (await rq1.Socket.CreateTokenAsync("rqteam", ProjectRoles.Operator, "rs29quota")).Token!;
        var otherToken = (await rq1.Socket.CreateTokenAsync("rqother", ProjectRoles.Admin, "rs29quota")).Token!;
        using var on1 = rq1.Tcp(teamToken);
        using var on2 = rq2.Tcp(teamToken);
        // Tokens live in etcd: the second node knows them once its watch has reloaded.
        Assert.True(await TestEnvironment.EventuallyAsync(() => ClusterDaemons.Works(() => on2.ListAsync()), TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(50)));

        // 160 MiB in use: r1 on rq1, r2 and a fake whose every resize fails (rf) on rq2.
        await on1.CreateAsync(Fake("r1", "rq1", 64 * MiB));
        await on1.CreateAsync(Fake("r2", "rq2", 64 * MiB));
        await on1.CreateAsync(Fake("rf", "rq2", 32 * MiB, "fail-resize"));
        try
        {
            Assert.Equal("rq1", (await on2.GetAsync("r1")).Details!["node"]);
            Assert.Equal("rq2", (await on1.GetAsync("r2")).Details!["node"]);
            Assert.True(await TestEnvironment.EventuallyAsync(() => on1.ListAsync().GetAwaiter().GetResult().Items.Count(i => i.State == "running") == 3,
                TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(100)), "the three fakes never ran");
            Assert.Equal(160 * MiB, await UsedAsync(rq1));

            // r1 grows to 160 MiB, asked of rq2 (relayed to rq1): 96 + 160 = 256 fits, and is counted cluster-wide.
            await on2.ResizeAsync("r1", 160 * MiB, null);
            Assert.Equal(160 * MiB, (await on1.GetAsync("r1")).Spec.Resources!.MemoryBytes);
            Assert.Equal(256 * MiB, await UsedAsync(rq2));

            // r2 to 96 MiB: rq2's own instances would hold it (64 + 32 → 128 MiB), the cluster's do not (288 > 256),
            // whichever node is asked.
            foreach (var via in new[] { on2, on1 })
            {
                var over = await Assert.ThrowsAsync<StrataApiException>(() => via.ResizeAsync("r2", 96 * MiB, null));
                Assert.Equal(403, over.Status);
                Assert.Equal("quota.memoryBytes", over.Field);
                Assert.Contains("project 'rqteam' would exceed its memory quota: 192M in use + 96M asked > 256M", over.Message, StringComparison.Ordinal);
                Assert.Contains("across the cluster, on every node: the project uses 256M of memory", over.Message, StringComparison.Ordinal);
                Assert.Contains("strata project set-quota rqteam", over.Message, StringComparison.Ordinal);
                Assert.Equal(64 * MiB, (await on1.GetAsync("r2")).Spec.Resources!.MemoryBytes);
                Assert.Equal(256 * MiB, await UsedAsync(rq1));
            }

            // A shrink gives back (asked of the node that runs it): r1 to 32 MiB, then r2's growth fits.
            await on1.ResizeAsync("r1", 32 * MiB, null);
            Assert.Equal(128 * MiB, await UsedAsync(rq2));
            await on1.ResizeAsync("r2", 96 * MiB, null);
            Assert.Equal(160 * MiB, await UsedAsync(rq1));
            Assert.Equal(96 * MiB, (await on2.GetAsync("r2")).Spec.Resources!.MemoryBytes);

            // A growth that fits but that the tier fails: the error is the tier's, and nothing stays counted.
            var failed = await Assert.ThrowsAsync<StrataApiException>(() => on1.ResizeAsync("rf", 64 * MiB, null));
            Assert.Contains("fake resize failure", failed.Message, StringComparison.Ordinal);
            Assert.Equal(160 * MiB, await UsedAsync(rq2));
            Assert.Equal(32 * MiB, (await on1.GetAsync("rf")).Spec.Resources!.MemoryBytes);

            // Two growths of 64 MiB at once through the two nodes with 96 MiB free: exactly one is counted.
            var both = await Task.WhenAll(
                Attempt(() => on1.ResizeAsync("r1", 96 * MiB, null)),
                Attempt(() => on2.ResizeAsync("r2", 160 * MiB, null)));
            Assert.Equal(1, both.Count(ok => ok));
            Assert.Equal(224 * MiB, await UsedAsync(rq1));
            var specs = 0L;
            foreach (var item in (await on2.ListAsync()).Items)
            {
                specs += item.Spec.Resources!.MemoryBytes!.Value;
            }
            Assert.Equal(224 * MiB, specs);

            // A second project's token, on either node: r1 does not exist for it, worded as for a missing instance, and nothing changes.
            foreach (var daemon in new[] { rq1, rq2 })
            {
                using var other = daemon.Tcp(otherToken);
                Assert.True(await TestEnvironment.EventuallyAsync(() => ClusterDaemons.Works(() => other.ListAsync()), TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(50)));
                Assert.Empty((await other.ListAsync()).Items);
                var foreign = await Assert.ThrowsAsync<StrataApiException>(() => other.ResizeAsync("r1", 8 * MiB, null));
                var missing = await Assert.ThrowsAsync<StrataApiException>(() => other.ResizeAsync("rq-none", 8 * MiB, null));
                Assert.Equal(404, foreign.Status);
                Assert.Equal(missing.Message.Replace("rq-none", "r1", StringComparison.Ordinal), foreign.Message);
            }
            Assert.Equal(224 * MiB, await UsedAsync(rq2));
            Assert.Equal(0, (await rq1.Socket.GetProjectAsync("rqother")).Usage!.MemoryBytes);
        }
        finally
        {
            foreach (var name in new[] { "r1", "r2", "rf" })
            {
                try
                {
                    await on1.DeleteAsync(name, force: true);
                }
                catch (StrataApiException)
                {
                }
            }
        }
        Assert.Equal(0, await UsedAsync(rq1));

        static async Task<bool> Attempt(Func<Task> resize)
        {
            try
            {
                await resize();
                return true;
            }
            catch (StrataApiException e) when (e.Status == 403)
            {
                return false;
            }
        }
    }

    [SkippableFact]
    public async Task RecommendApplyAndTheAutoLoop_AreCountedAcrossTheCluster_RefusedWhileTheOtherNodeHoldsTheQuota()
    {
        var (rq1, rq2) = (_daemons.Nodes[0], _daemons.Nodes[1]);
        Assert.True(await TestEnvironment.EventuallyAsync(() =>
            JsonDocument.Parse(rq1.Socket.NodesJsonAsync().GetAwaiter().GetResult()).RootElement.EnumerateArray().Count(n => n.GetProperty("status").GetString() == "online") == 2,
            TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(200)), "the two nodes were not online");
        await rq1.Socket.CreateProjectAsync(new CreateProjectRequest
        {
            Name = "rqauto",
            Quota = new ProjectQuota { MemoryBytes = 128 * MiB, Cpus = 8 },
            Restrictions = new ProjectRestrictions { AllowedTiers = ["fake"] },
        });
        await rq1.Socket.CreateProjectAsync(new CreateProjectRequest { Name = "rqauto2", Restrictions = new ProjectRestrictions { AllowedTiers = ["fake"] } });
        using var on1 = rq1.Tcp((await rq1.Socket.CreateTokenAsync("rqauto", ProjectRoles.Operator, "rs29quota")).Token!);
        using var on2 = rq2.Tcp((await rq1.Socket.CreateTokenAsync("rqauto", ProjectRoles.Operator, "rs29quota")).Token!);
        using var other = rq2.Tcp((await rq1.Socket.CreateTokenAsync("rqauto2", ProjectRoles.Admin, "rs29quota")).Token!);
        Assert.True(await TestEnvironment.EventuallyAsync(() => ClusterDaemons.Works(() => on2.ListAsync()) && ClusterDaemons.Works(() => other.ListAsync()),
            TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(50)));

        // ru on rq1 uses 63 of its 64 MiB: the recommendation (+15 %) grows it to 73 MiB. rz on rq2 holds the rest of the 128 MiB.
        await on1.CreateAsync(Fake("ru", "rq1", 64 * MiB, "use", "63", "0.25"));
        await on1.CreateAsync(Fake("rz", "rq2", 64 * MiB));
        try
        {
            // No history yet is a 409 until the first sample.
            InstanceRecommendation? sampled = null;
            Assert.True(await TestEnvironment.EventuallyAsync(() => ClusterDaemons.Works(async () => sampled = await on2.RecommendationAsync("ru")) && sampled!.Samples > 0,
                TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(200)), "ru was never sampled");
            Assert.Equal(73 * MiB, (await on2.RecommendationAsync("ru")).Recommended.MemoryBytes);
            Assert.Equal(128 * MiB, await UsedAsync(rq1, "rqauto"));

            // recommend --apply, asked of rq2 and run on rq1: rq1's own instances would hold it (73 ≤ 128), the project's do not.
            var refused = await Assert.ThrowsAsync<StrataApiException>(() => on2.ApplyRecommendationAsync("ru"));
            Assert.Equal(403, refused.Status);
            Assert.Contains("64M in use + 73M asked > 128M", refused.Message, StringComparison.Ordinal);
            Assert.Contains("across the cluster", refused.Message, StringComparison.Ordinal);
            Assert.Equal(64 * MiB, (await on2.GetAsync("ru")).Spec.Resources!.MemoryBytes);
            Assert.Equal(128 * MiB, await UsedAsync(rq2, "rqauto"));

            // The auto loop on rq1 tries the same change: refused, and its status says so with the reason.
            RightsizeStatus? status = null;
            Assert.True(await TestEnvironment.EventuallyAsync(() =>
                (status = on2.SetRightsizeAsync("ru", "auto").GetAwaiter().GetResult()).LastChangeExplanation?.Contains("not applied", StringComparison.Ordinal) == true,
                TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(250)), $"the auto loop never tried: {status}");
            Assert.Contains("would exceed its memory quota", status!.LastChangeExplanation, StringComparison.Ordinal);
            Assert.Equal(128 * MiB, await UsedAsync(rq1, "rqauto"));

            // A second project's token finds neither the instance nor its recommendation, on the node that does not run it.
            Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => other.ApplyRecommendationAsync("ru"))).Status);
            Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => other.SetRightsizeAsync("ru", "off"))).Status);

            // rz goes: the loop's next try fits, and the cluster counts ru at its new size.
            await on1.DeleteAsync("rz", force: true);
            Assert.True(await TestEnvironment.EventuallyAsync(() => UsedAsync(rq2, "rqauto").GetAwaiter().GetResult() == 73 * MiB,
                TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(250)), "the auto loop's growth was never counted");
            Assert.Equal(73 * MiB, (await on1.GetAsync("ru")).Spec.Resources!.MemoryBytes);
            Assert.Equal("auto", (await on2.SetRightsizeAsync("ru", "auto")).Mode);
        }
        finally
        {
            foreach (var name in new[] { "ru", "rz" })
            {
                try
                {
                    await on1.DeleteAsync(name, force: true);
                }
                catch (StrataApiException)
                {
                }
            }
        }
        Assert.Equal(0, await UsedAsync(rq1, "rqauto"));
    }

    /// <summary>The memory a project uses as the node's API shows it (in a cluster: the usage etcd counts for every node).</summary>
    private static async Task<long> UsedAsync(ClusterDaemon node, string project = "rqteam") => (await node.Socket.GetProjectAsync(project)).Usage!.MemoryBytes;
}
