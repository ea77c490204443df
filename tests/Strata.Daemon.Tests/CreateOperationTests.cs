using System.Net;
using System.Text.Json;
using Strata.Client;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Daemon.Tests;

/// <summary>
/// Creates as operations (<c>POST /v1/instances?wait=false</c>) through a real daemon with the fake tier, whose
/// <c>steps N MS</c> script makes a create slow and report N steps: progress in order, a cancel that leaves nothing,
/// and operations that belong to their project only.
/// </summary>
public sealed class CreateOperationTests : IAsyncLifetime
{
    private InProcessDaemon _daemon = null!;
    private StrataClient _admin = null!;

    public async Task InitializeAsync()
    {
        _daemon = await InProcessDaemon.StartWithTcpAsync();
        _admin = _daemon.Client();
    }

    public async Task DisposeAsync()
    {
        _admin.Dispose();
        await _daemon.DisposeAsync();
    }

    private static InstanceSpec Slow(string name, int steps, int pauseMs) =>
        new() { Name = name, Tier = "fake", Args = ["steps", $"{steps}", $"{pauseMs}", "sleep"] };

    private static IEnumerable<ProgressItem> Items(OperationEvent e) => e.Item is { } item ? [item] : e.Operation?.Progress.Items ?? [];

    [Fact]
    public async Task SlowCreate_StepsArriveInOrder_ThenTheRunningInstanceIsTheResult()
    {
        var operation = await _admin.CreateOperationAsync(Slow("slow", 3, 100));
        Assert.Equal("instance-create", operation.Kind);
        Assert.Equal("slow", operation.Target);
        Assert.Equal("default", operation.Project);

        var seen = new List<string>();
        OperationInfo? final = null;
        await foreach (var e in _admin.WatchOperationAsync(operation.Id))
        {
            // The first event is the operation as it is (its first steps may have begun already, in the order they
            // began), then each update as it happens.
            foreach (var item in Items(e))
            {
                Assert.Equal("step", item.Kind);
                seen.Add(item.Message!);
            }
            final = e.Operation ?? final;
        }
        // Every step is seen, in the order the create took them, the start last.
        Assert.Equal(["fake step 1/3", "fake step 2/3", "fake step 3/3", "starting"], seen.Distinct());
        Assert.Equal(OperationStatusNames.Succeeded, final!.Status);
        Assert.Equal(["fake-1", "fake-2", "fake-3", "start"], final.Progress.Items.Select(i => i.Id));
        Assert.All(final.Progress.Items, i => Assert.Equal("done", i.Phase));
        Assert.Equal("running slow", final.Progress.Message);
        var result = final.Result!.Value.Deserialize(StrataJsonContext.Default.InstanceInfo)!;
        Assert.Equal("slow", result.Name);
        Assert.Equal("running", result.State);
        Assert.Equal("running", (await _admin.GetAsync("slow")).State);
        Assert.Contains((await _admin.ListOperationsAsync()).Items, o => o.Id == operation.Id && o.Status == OperationStatusNames.Succeeded);
    }

    [Fact]
    public async Task CancelMidCreate_LeavesNoInstanceNoRecordNoDirectory_AndTheNameIsFree()
    {
        var operation = await _admin.CreateOperationAsync(Slow("half", 3, 60_000));
        await foreach (var e in _admin.WatchOperationAsync(operation.Id))
        {
            if (Items(e).Any(i => i is { Id: "fake-1", Phase: "running" }))
            {
                break; // the create is inside the driver now: its directory exists, its name is taken
            }
        }
        Assert.Equal(409, (await Assert.ThrowsAsync<StrataApiException>(() => _admin.CreateAsync(Slow("half", 1, 0)))).Status);
        var instances = Path.Combine(_daemon.Root, "instances");
        Assert.Single(Directory.GetDirectories(instances));

        var cancelled = await _admin.CancelOperationAsync(operation.Id);
        Assert.Equal(OperationStatusNames.Cancelled, cancelled.Status);
        Assert.Equal("cancelled", cancelled.Error!.Kind);
        Assert.Null(cancelled.Result);

        Assert.Empty((await _admin.ListAsync()).Items);
        Assert.Equal(404, (await Assert.ThrowsAsync<StrataApiException>(() => _admin.GetAsync("half"))).Status);
        Assert.Empty(Directory.GetDirectories(instances));
        // Nothing was stored either: a restarted daemon (which reads only the store) knows no such instance.
        await _daemon.RestartAsync();
        using var after = _daemon.Client();
        Assert.Empty((await after.ListAsync()).Items);
        Assert.Equal("running", (await after.CreateAsync(Slow("half", 1, 0))).State);
    }

    [Fact]
    public async Task AnotherProjectsToken_CannotSeeListWaitWatchOrCancelTheOperation()
    {
        var restrictions = new ProjectRestrictions { AllowedTiers = ["fake"] };
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "a", Restrictions = restrictions });
        await _admin.CreateProjectAsync(new CreateProjectRequest { Name = "b", Restrictions = restrictions });
        using var a = _daemon.Tcp((await _admin.CreateTokenAsync("a", ProjectRoles.Operator)).Token!);
        using var b = _daemon.Tcp((await _admin.CreateTokenAsync("b", ProjectRoles.Operator)).Token!);
        using var bViewer = _daemon.Tcp((await _admin.CreateTokenAsync("b", ProjectRoles.Viewer)).Token!);

        var mine = await b.CreateOperationAsync(Slow("web", 2, 60_000));
        Assert.Equal("b", mine.Project);
        Assert.Empty((await a.ListOperationsAsync()).Items);
        Assert.Empty((await _admin.ListOperationsAsync()).Items); // the socket's administrator acts in 'default'
        var missing = await Assert.ThrowsAsync<StrataApiException>(() => a.GetOperationAsync("0123456789abcdef"));
        var calls = new Func<Task>[]
        {
            () => a.GetOperationAsync(mine.Id),
            () => a.WaitOperationAsync(mine.Id, TimeSpan.FromSeconds(1)),
            () => a.CancelOperationAsync(mine.Id),
            async () => { await foreach (var _ in a.WatchOperationAsync(mine.Id)) { } },
        };
        foreach (var call in calls)
        {
            var e = await Assert.ThrowsAsync<StrataApiException>(call);
            Assert.Equal(404, e.Status);
            // Worded exactly as for an operation that does not exist anywhere.
            Assert.Equal(missing.Message.Replace("0123456789abcdef", mine.Id, StringComparison.Ordinal), e.Message);
        }
        Assert.Empty((await a.ListAsync()).Items);

        // Untouched: still running for its own project, whose viewer sees it but may not cancel it.
        Assert.Equal(OperationStatusNames.Running, (await b.GetOperationAsync(mine.Id)).Status);
        Assert.Equal([mine.Id], (await bViewer.ListOperationsAsync()).Items.Select(o => o.Id));
        Assert.Equal(403, (await Assert.ThrowsAsync<StrataApiException>(() => bViewer.CancelOperationAsync(mine.Id))).Status);
        Assert.Equal(OperationStatusNames.Cancelled, (await b.CancelOperationAsync(mine.Id)).Status);
        Assert.Empty((await b.ListAsync()).Items);
    }

    [Fact]
    public async Task BadRequests_AnswerAtOnce_AndAFailedCreateIsTheOperationsProblem()
    {
        using var http = _daemon.Http();
        var attached = await http.PostAsync("v1/instances?wait=false&attach=true",
            new StringContent("""{"spec":{"tier":"fake","args":["sleep"]}}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, attached.StatusCode);
        Assert.Contains("wait", await attached.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var badName = await Assert.ThrowsAsync<StrataApiException>(() => _admin.CreateOperationAsync(new InstanceSpec { Name = "Not A Name", Tier = "fake", Args = ["sleep"] }));
        Assert.Equal(400, badName.Status);
        Assert.Empty((await _admin.ListOperationsAsync()).Items);

        var failing = await _admin.CreateOperationAsync(new InstanceSpec { Name = "broken", Tier = "fake", Args = ["steps", "1", "0", "fail-create"] });
        var final = await _admin.WaitOperationAsync(failing.Id);
        Assert.Equal(OperationStatusNames.Failed, final.Status);
        Assert.Contains("fake create failure", final.Error!.Detail, StringComparison.Ordinal);
        Assert.Equal(500, StrataApiException.From(final.Error).Status);
        Assert.Empty((await _admin.ListAsync()).Items);
    }
}
