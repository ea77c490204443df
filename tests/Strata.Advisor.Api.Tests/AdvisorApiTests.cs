using System.Net;
using System.Text;
using Strata.Client;
using Strata.Contracts;
using Strata.Daemon.Tests;

namespace Strata.Advisor.Api.Tests;

/// <summary>The tier advisor through a real in-process daemon: /v1/advise, /v1/apply, tier auto on create, and the recorded placement.</summary>
public sealed class AdvisorApiTests : IAsyncLifetime
{
    private InProcessDaemon _daemon = null!;
    private StrataClient _client = null!;

    public async Task InitializeAsync()
    {
        _daemon = await InProcessDaemon.StartAsync();
        _client = _daemon.Client();
    }

    public async Task DisposeAsync()
    {
        foreach (var instance in (await _client.ListAsync()).Items)
        {
            await _client.DeleteAsync(instance.Name, force: true);
        }
        _client.Dispose();
        await _daemon.DisposeAsync();
    }

    private static string MixedExample => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "examples", "mixed.yaml"));

    [Fact]
    public async Task Advise_MixedExample_GivesTheArticlesTiersOrNamesTheMissingTier()
    {
        var info = await _client.InfoAsync();
        bool Available(string tier) => info.Tiers.Any(t => t.Tier == tier && t.Available);

        var advice = await _client.AdviseFileAsync(MixedExample, "mixed.yaml");

        Assert.Equal(["web", "erp", "plugin", "trainer"], advice.Items.Select(i => i.Name));
        // Each workload, with the tier the advisor picks on a host with every tier, and a rule that must be among the reasons.
        (string Name, string Tier, string Rule, string[] Acceptable)[] expected =
        [
            ("web", "container", "R17-oci-image", ["container"]),
            ("erp", "vm", "R1-foreign-os", ["vm"]),
            ("plugin", "sandbox", "R8-untrusted", ["sandbox", "vm"]),
            ("trainer", "vm", "R11-dedicated-hardware", ["vm"]),
        ];
        foreach (var (name, ideal, rule, acceptable) in expected)
        {
            var item = advice.Items.Single(i => i.Name == name);
            if (acceptable.Any(Available))
            {
                Assert.Null(item.Problem);
                Assert.Contains(item.Tier, acceptable);
                Assert.Contains(item.Reasons!, r => r.Rule == rule);
                Assert.Equal(item.Tier != ideal, item.Fallback is not null);
            }
            else
            {
                // Nothing that fits runs here: a 503 that names the tier the workload needs.
                Assert.NotNull(item.Problem);
                Assert.Equal(503, item.Problem.Status);
                Assert.Contains(ideal, item.Problem.Detail, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task Advise_FileWithErrors_Is400ListingEveryErrorWithItsLine()
    {
        const string file = """
            workloads:
              - name: a
                requirements:
                  isolation: stronk
              - name: b
                imag: busybox
            """;
        var e = await Assert.ThrowsAsync<StrataApiException>(() => _client.AdviseFileAsync(file, "bad.yaml"));
        Assert.Equal(400, e.Status);
        Assert.Contains("line 4: workloads[0].requirements.isolation", e.Message, StringComparison.Ordinal);
        Assert.Contains("line 6: workloads[1].imag: unknown key; did you mean 'image'?", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Advise_Contradiction_ItemCarriesTheProblemNamingBothKeys()
    {
        var advice = await _client.AdviseSpecAsync(new InstanceSpec
        {
            Name = "clash",
            Image = "hello.wasm",
            Requirements = new WorkloadRequirements { KernelModules = ["overlay"] },
        });
        var problem = Assert.Single(advice.Items).Problem;
        Assert.NotNull(problem);
        Assert.Equal(400, problem.Status);
        Assert.Contains("requirements.kernelModules clashes with image", problem.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Advise_BadRequirementValue_Is400NamingTheKey()
    {
        var e = await Assert.ThrowsAsync<StrataApiException>(() => _client.CreateAsync(new InstanceSpec
        {
            Name = "x",
            Image = "busybox",
            Requirements = new WorkloadRequirements { Isolation = "stronk" },
        }));
        Assert.Equal(400, e.Status);
        Assert.Equal("requirements.isolation", e.Field);
    }

    [Fact]
    public async Task Run_NoTierNoImage_Is400NamingTierAndTheWayOut()
    {
        var e = await Assert.ThrowsAsync<StrataApiException>(() => _client.CreateAsync(new InstanceSpec { Name = "bare", Args = ["true"] }));
        Assert.Equal(400, e.Status);
        Assert.Equal("tier", e.Field);
        Assert.Contains("--tier process", e.Message, StringComparison.Ordinal);
        Assert.Contains("--isolation none", e.Message, StringComparison.Ordinal);
        Assert.Empty((await _client.ListAsync()).Items);
    }

    [Fact]
    public async Task Run_NoTierNoImageIsolationNone_RunsAsProcessAndInspectShowsWhy()
    {
        var created = await _client.CreateAsync(new InstanceSpec
        {
            Name = "host-cmd",
            Command = ["sleep", "300"],
            Requirements = new WorkloadRequirements { Isolation = "none" },
        }, start: false);
        Assert.Equal("process", created.Tier);

        var inspected = await _client.GetAsync("host-cmd");
        Assert.NotNull(inspected.Placement);
        Assert.Equal("advisor", inspected.Placement.ChosenBy);
        Assert.Equal("process", inspected.Placement.Tier);
        Assert.Contains(inspected.Placement.Reasons, r => r.Rule == "R16-host-command");
        Assert.Contains(inspected.Placement.Reasons, r => r.Rule == "S1-lightest-fit");
        Assert.NotEmpty(inspected.Placement.RunnersUp!);

        // The placement survives a daemon restart (it is stored with the instance).
        await _daemon.RestartAsync();
        using var client = _daemon.Client();
        var reloaded = await client.GetAsync("host-cmd");
        Assert.Contains(reloaded.Placement!.Reasons, r => r.Rule == "R16-host-command");
    }

    [Theory]
    [InlineData("process")]
    [InlineData("container")]
    public async Task Create_UntrustedOnANamedWeakTier_Is400NamingTheRule(string tier)
    {
        var e = await Assert.ThrowsAsync<StrataApiException>(() => _client.CreateAsync(new InstanceSpec
        {
            Name = "tenant",
            Tier = tier,
            Image = tier == "process" ? null : "busybox",
            Command = ["true"],
            Requirements = new WorkloadRequirements { Trust = "untrusted", Isolation = tier == "process" ? null : "standard" },
        }, start: false));
        Assert.Equal(400, e.Status);
        Assert.Equal("tier", e.Field);
        Assert.Contains("R8-untrusted", e.Message, StringComparison.Ordinal);
        Assert.Empty((await _client.ListAsync()).Items);
    }

    [Fact]
    public async Task Create_UntrustedAuto_NeverLandsOnProcessOrContainer()
    {
        var advice = Assert.Single((await _client.AdviseSpecAsync(new InstanceSpec
        {
            Name = "tenant",
            Image = "busybox",
            Requirements = new WorkloadRequirements { Trust = "untrusted" },
        })).Items);
        if (advice.Problem is null)
        {
            Assert.Contains(advice.Tier, new[] { "sandbox", "vm" });
        }
        else
        {
            Assert.Equal(503, advice.Problem.Status);
        }

        // And creating it either lands on a hardware boundary or is refused; never process or container.
        try
        {
            var created = await _client.CreateAsync(new InstanceSpec
            {
                Name = "tenant",
                Image = "busybox",
                Requirements = new WorkloadRequirements { Trust = "untrusted", Isolation = "none" },
            }, start: false);
            Assert.Contains(created.Tier, new[] { "sandbox", "vm" });
        }
        catch (StrataApiException e)
        {
            // isolation none with untrusted is the X1 contradiction.
            Assert.Equal(400, e.Status);
            Assert.Contains("untrusted", e.Message, StringComparison.Ordinal);
        }
    }

    private const string ApplyFile = """
        workloads:
          - name: pinned
            tier: process
            command: [sleep, "300"]
          - name: placed
            command: [sleep, "301"]
            requirements:
              isolation: none
        """;

    [Fact]
    public async Task Apply_ThenReapply_CreatesThenUnchangedThenReplaced()
    {
        var first = await _client.ApplyAsync(ApplyFile, "local.yaml");
        Assert.True(first.Complete);
        Assert.Equal(["created", "created"], first.Items.Select(i => i.Action));
        Assert.All(first.Items, i => Assert.Equal("process", i.Tier));
        Assert.Contains(first.Items[1].Reasons!, r => r.Rule == "R16-host-command");
        Assert.Contains(first.Items[0].Reasons!, r => r.Rule == "T0-requested");
        var placedId = (await _client.GetAsync("placed")).Id;

        var second = await _client.ApplyAsync(ApplyFile, "local.yaml");
        Assert.True(second.Complete);
        Assert.Equal(["unchanged", "unchanged"], second.Items.Select(i => i.Action));
        Assert.Equal(placedId, (await _client.GetAsync("placed")).Id);

        var third = await _client.ApplyAsync(ApplyFile.Replace("\"300\"", "\"302\"", StringComparison.Ordinal), "local.yaml");
        Assert.True(third.Complete);
        Assert.Equal(["replaced", "unchanged"], third.Items.Select(i => i.Action));
        Assert.Equal(["sleep", "302"], (await _client.GetAsync("pinned")).Spec.Command);
        Assert.Equal(placedId, (await _client.GetAsync("placed")).Id);
    }

    [Fact]
    public async Task Apply_AWorkloadThatCannotBePlaced_CreatesNothingAndNamesIt()
    {
        // The first workload would run here; the second is a host command without isolation: none.
        const string file = """
            - name: fine
              tier: process
              command: [sleep, "300"]
            - name: bare
              command: [true]
            """;
        var e = await Assert.ThrowsAsync<StrataApiException>(() => _client.ApplyAsync(file, "two.yaml"));
        Assert.Equal(400, e.Status);
        Assert.Contains("nothing was applied", e.Message, StringComparison.Ordinal);
        Assert.Contains("bare (line 4)", e.Message, StringComparison.Ordinal);
        Assert.Empty((await _client.ListAsync()).Items);
    }

    [Fact]
    public async Task Apply_MixedExample_OnThisHost_AppliesAllOrNamesTheMissingTier()
    {
        var info = await _client.InfoAsync();
        if (info.Tiers.Any(t => t.Tier == "vm" && t.Available))
        {
            return; // every workload could be created here; the advise test covers the decisions
        }
        var e = await Assert.ThrowsAsync<StrataApiException>(() => _client.ApplyAsync(MixedExample, "mixed.yaml"));
        Assert.Equal(503, e.Status);
        Assert.Contains("erp (line", e.Message, StringComparison.Ordinal);
        Assert.Contains("vm", e.Message, StringComparison.Ordinal);
        Assert.Empty((await _client.ListAsync()).Items);
    }

    [Fact]
    public async Task Advise_RawBodyWithFileAndSpec_Is400()
    {
        using var http = _daemon.Http();
        using var response = await http.PostAsync("v1/advise", new StringContent("""{"file":"name: a","spec":{"name":"a"}}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }
}
