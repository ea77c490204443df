using System.Text.Json;
using Strata.Contracts;
using Strata.Control.Operations;
using Xunit;

namespace Strata.Images.Api.Tests;

/// <summary>The operations facility on its own: statuses, history bound, cancellation, watching.</summary>
public sealed class OperationRegistryTests
{
    private static ProblemDetails Describe(Exception e) => new() { Detail = e.Message, Kind = e is StrataException s ? s.Kind.ToString() : "internal" };

    [Fact]
    public async Task History_MoreFinishedThanLimit_KeepsNewestAndEveryRunning()
    {
        await using var registry = new OperationRegistry(TimeProvider.System, Describe, historyLimit: 2);
        var hold = new TaskCompletionSource();
        var running = registry.Start("test", "held", async (_, ct) => { await hold.Task.WaitAsync(ct); return null; });
        var finished = new List<Operation>();
        for (var i = 0; i < 4; i++)
        {
            var op = registry.Start("test", $"quick{i}", (_, _) => Task.FromResult<JsonElement?>(JsonSerializer.SerializeToElement(i)));
            await op.Completion;
            finished.Add(op);
        }
        // Trimming runs right after an operation finishes; wait for the last one's trim on the condition itself.
        Assert.True(await Strata.Testing.TestEnvironment.EventuallyAsync(() => registry.List().Count == 3, TimeSpan.FromSeconds(5)));
        Assert.Contains(registry.List(), o => o.Id == running.Id);
        Assert.Equal(OperationStatus.Succeeded, registry.Get(finished[3].Id).Status);
        Assert.Throws<StrataException>(() => registry.Get(finished[0].Id));
        hold.SetResult();
    }

    [Fact]
    public async Task Cancel_RunningWork_CancelledWithProblemAndSecondCancelRefused()
    {
        await using var registry = new OperationRegistry(TimeProvider.System, Describe);
        var op = registry.Start("test", "forever", async (_, ct) => { await Task.Delay(Timeout.Infinite, ct); return null; });
        Assert.True(op.Cancel());
        await op.Completion;
        Assert.Equal(OperationStatus.Cancelled, op.Status);
        Assert.Equal(nameof(ErrorKind.Cancelled), op.Error!.Kind);
        Assert.False(op.Cancel());
    }

    /// <summary>A clock whose timestamps never advance: byte updates are always "too soon" after the last one.</summary>
    private sealed class FrozenTimestamps : TimeProvider
    {
        public override long GetTimestamp() => 0;
    }

    [Fact]
    public async Task Watch_ReportsPhaseChangesThenFinal_FinishedOperationYieldsOnlyFinal()
    {
        await using var registry = new OperationRegistry(new FrozenTimestamps(), Describe);
        var go = new TaskCompletionSource();
        var op = registry.Start("test", "items", async (o, _) =>
        {
            await go.Task;
            o.Report(new ProgressItem("a", "layer", "downloading", 1, 10));
            o.Report(new ProgressItem("a", "layer", "downloading", 2, 10)); // too soon: not forwarded
            o.Report(new ProgressItem("a", "layer", "done", 10, 10));
            return null;
        });
        var events = new List<OperationEvent>();
        await foreach (var e in op.WatchAsync())
        {
            events.Add(e);
            if (events.Count == 1)
            {
                go.SetResult();
            }
        }
        Assert.Equal("running", events[0].Operation!.Status);
        Assert.Equal(["downloading", "done"], events.Where(e => e.Item is not null).Select(e => e.Item!.Phase));
        var final = events[^1].Operation!;
        Assert.Equal("succeeded", final.Status);
        Assert.Equal(10, final.Progress.Current);

        var late = new List<OperationEvent>();
        await foreach (var e in op.WatchAsync())
        {
            late.Add(e);
        }
        Assert.Equal("succeeded", Assert.Single(late).Operation!.Status);
    }
}
