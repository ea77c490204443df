using System.Diagnostics;
using Strata.Node.Supervision;

namespace Strata.Node.Tests.Supervision;

public sealed class ExitWatcherTests
{
    [Fact]
    public async Task WaitForExitAsync_ProcessKilled_Completes()
    {
        using var watcher = new ExitWatcher();
        using var process = Process.Start(new ProcessStartInfo("sleep", "30"))!;
        var ticks = ProcessIdentity.TryGetStartTicks(process.Id)!.Value;

        var wait = watcher.WaitForExitAsync(process.Id, ticks, CancellationToken.None);
        Assert.False(wait.IsCompleted);
        process.Kill();

        await wait.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task WaitForExitAsync_ManyProcesses_EachCompletesWhenItsProcessEnds()
    {
        using var watcher = new ExitWatcher();
        var processes = Enumerable.Range(0, 5).Select(_ => Process.Start(new ProcessStartInfo("sleep", "30"))!).ToList();
        try
        {
            var waits = processes.Select(p => watcher.WaitForExitAsync(p.Id, ProcessIdentity.TryGetStartTicks(p.Id)!.Value, CancellationToken.None)).ToList();

            processes[2].Kill();
            await waits[2].WaitAsync(TimeSpan.FromSeconds(10));

            Assert.All(waits.Where((_, i) => i != 2), w => Assert.False(w.IsCompleted));
            foreach (var p in processes)
            {
                p.Kill();
            }
            await Task.WhenAll(waits).WaitAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            processes.ForEach(p => p.Dispose());
        }
    }

    [Fact]
    public void WaitForExitAsync_WrongStartTicks_CompletesAtOnce()
    {
        using var watcher = new ExitWatcher();
        var ticks = ProcessIdentity.TryGetStartTicks(Environment.ProcessId)!.Value;

        Assert.True(watcher.WaitForExitAsync(Environment.ProcessId, ticks + 1, CancellationToken.None).IsCompletedSuccessfully);
        Assert.True(watcher.WaitForExitAsync(int.MaxValue - 3, 1, CancellationToken.None).IsCompletedSuccessfully);
    }

    [Fact]
    public async Task WaitForExitAsync_Cancelled_Throws()
    {
        using var watcher = new ExitWatcher();
        using var cts = new CancellationTokenSource();
        var ticks = ProcessIdentity.TryGetStartTicks(Environment.ProcessId)!.Value;

        var wait = watcher.WaitForExitAsync(Environment.ProcessId, ticks, cts.Token);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
    }
}
