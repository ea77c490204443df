using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Strata.Client;
using Strata.Contracts;

namespace Strata.Bench.Core;

/// <summary>
/// One daemon a migration bench moves between: its name, a client that reaches the instance there (in a cluster any
/// node relays), and how a move names it (<see cref="MoveRequest.ToAddress"/> and token, or <see cref="MoveRequest.Node"/>).
/// </summary>
public sealed record MigrationSide(string Name, StrataClient Client, MoveRequest Reach);

/// <summary>One live move as <see cref="MigrationBench"/> measures it.</summary>
public sealed record MigrationMove
{
    public int Number { get; init; }
    public string From { get; init; } = "";
    public string To { get; init; } = "";
    /// <summary>The gap the guest saw: between the last counter line the source's log recorded and the first the target's did.</summary>
    public double GuestDowntimeMs { get; init; }
    /// <summary>The largest gap between two counter lines across the whole move.</summary>
    public double LargestGapMs { get; init; }
    /// <summary>QEMU's own downtime figure.</summary>
    public double QemuDowntimeMs { get; init; }
    /// <summary>The whole move as the caller sees it: the request to the finished operation.</summary>
    public double WholeMoveSeconds { get; init; }
    public long RamBytes { get; init; }
    public long DiskBytes { get; init; }
}

/// <summary><c>strata bench --migration</c>: the moves and their medians.</summary>
public sealed record MigrationReport
{
    public string Instance { get; init; } = "";
    public long MemoryBytes { get; init; }
    public string Here { get; init; } = "";
    public string Target { get; init; } = "";
    public IReadOnlyList<MigrationMove> Moves { get; init; } = [];
    public double MedianGuestDowntimeMs { get; init; }
    public double MedianLargestGapMs { get; init; }
    public double MedianQemuDowntimeMs { get; init; }
    public double MedianWholeMoveSeconds { get; init; }
    public double MedianRamBytes { get; init; }
    public double MedianDiskBytes { get; init; }
    public string Load { get; init; } = "";
}

/// <summary>Source-generated JSON for the migration report (the CLI is NativeAOT).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, WriteIndented = true)]
[JsonSerializable(typeof(MigrationReport))]
public sealed partial class MigrationJsonContext : JsonSerializerContext;

/// <summary>
/// Live moves of an idle busybox VM between two daemons, measured from the guest's side: its workload prints a
/// counter every 10 ms, and the timestamps the supervisors give those lines (where they read the guest's output, so
/// the log pipeline is included) show the gap the guest saw at the switch. Used by <c>strata bench --migration</c>
/// and by <c>bench/Strata.Bench.Migration daemons</c>.
/// </summary>
public static class MigrationBench
{
    /// <summary>The bench's VM: a name an interrupted run's cleanup finds.</summary>
    public const string InstanceName = "strata-bench-migration";

    /// <summary>The guest's counter, a line every 10 ms.</summary>
    public const string Counter = "i=0; while :; do i=$((i+1)); echo $i; usleep 10000; done";

    /// <summary>Creates the VM (<paramref name="script"/> as its workload) and waits until its counter runs.</summary>
    public static async Task CreateAsync(StrataClient client, string name, string script, long memoryBytes, CancellationToken ct = default)
    {
        await client.CreateAsync(new InstanceSpec
        {
            Name = name, Tier = "vm", Image = "busybox:latest", Args = ["sh", "-c", script],
            Resources = new ResourceSpec { MemoryBytes = memoryBytes },
        }, ct: ct).ConfigureAwait(false);
        var deadline = Stopwatch.StartNew();
        while ((await LinesAsync(client, name, ct).ConfigureAwait(false)).Count < 50)
        {
            if (deadline.Elapsed > TimeSpan.FromMinutes(3))
            {
                throw new InvalidOperationException($"the VM {name}'s counter never started");
            }
            await Task.Delay(200, ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Moves <paramref name="name"/> live from <paramref name="from"/> to <paramref name="to"/> and measures it. The
    /// source's log goes with its copy, so it is followed live through the move. Cancelling cancels the move (its
    /// operation), which leaves the VM running on the source.
    /// </summary>
    public static async Task<(MigrationMove Move, MoveResult Result)> MoveAsync(MigrationSide from, MigrationSide to, string name, string? bandwidth, int number, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var sourceLines = new List<(DateTimeOffset Time, long Value)>();
        var follow = Task.Run(async () =>
        {
            try
            {
                await foreach (var frame in from.Client.LogsAsync(name, follow: true, ct: stop.Token).ConfigureAwait(false))
                {
                    if (frame.Log is { } log && long.TryParse(log.Text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var v))
                    {
                        lock (sourceLines)
                        {
                            sourceLines.Add((log.Time, v));
                        }
                    }
                }
            }
            catch (Exception e) when (e is StrataApiException or OperationCanceledException or HttpRequestException or IOException)
            {
            }
        }, CancellationToken.None);
        try
        {
            await Task.Delay(500, ct).ConfigureAwait(false);
            var wall = Stopwatch.StartNew();
            var op = await from.Client.MoveAsync(name, to.Reach with { Bandwidth = bandwidth, Mode = "live" }, ct).ConfigureAwait(false);
            try
            {
                while (!OperationStatusNames.IsFinished(op.Status))
                {
                    op = await from.Client.WaitOperationAsync(op.Id, TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                // Ctrl-C: the move is undone (the VM stays on the source), then the caller removes it.
                using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                await from.Client.CancelOperationAsync(op.Id, grace.Token).ConfigureAwait(false);
                while (!OperationStatusNames.IsFinished(op.Status) && !grace.IsCancellationRequested)
                {
                    op = await from.Client.WaitOperationAsync(op.Id, TimeSpan.FromSeconds(10), grace.Token).ConfigureAwait(false);
                }
                throw;
            }
            if (op.Status != OperationStatusNames.Succeeded)
            {
                throw new InvalidOperationException($"the move from {from.Name} to {to.Name} {op.Status}: {op.Error?.Detail}");
            }
            var wallSeconds = wall.Elapsed.TotalSeconds;
            var result = op.Result!.Value.Deserialize(StrataJsonContext.Default.MoveResult)!;
            List<(DateTimeOffset Time, long Value)> targetLines = [];
            var deadline = Stopwatch.StartNew();
            while (targetLines.Count < 30 && deadline.Elapsed < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(200, ct).ConfigureAwait(false);
                targetLines = await LinesAsync(to.Client, name, ct).ConfigureAwait(false);
            }
            await Task.Delay(300, ct).ConfigureAwait(false);
            await stop.CancelAsync().ConfigureAwait(false);
            await follow.ConfigureAwait(false);
            List<(DateTimeOffset Time, long Value)> before;
            lock (sourceLines)
            {
                before = [.. sourceLines];
            }
            if (before.Count == 0 || targetLines.Count == 0 || targetLines[^1].Value <= before[^1].Value)
            {
                throw new InvalidOperationException($"the guest's counter did not continue on {to.Name} ({before.Count} lines read on the source, {targetLines.Count} on the target)");
            }
            var after = targetLines.Where(t => t.Value > before[^1].Value).ToList();
            var all = before.Concat(after).ToList();
            var move = new MigrationMove
            {
                Number = number,
                From = from.Name,
                To = to.Name,
                GuestDowntimeMs = (after[0].Time - before[^1].Time).TotalMilliseconds,
                LargestGapMs = all.Zip(all.Skip(1), (a, b) => (b.Time - a.Time).TotalMilliseconds).DefaultIfEmpty(0).Max(),
                QemuDowntimeMs = result.DowntimeMs,
                WholeMoveSeconds = wallSeconds,
                RamBytes = result.RamBytes,
                DiskBytes = result.DiskBytes,
            };
            return (move, result);
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await follow.ConfigureAwait(false);
        }
    }

    /// <summary>
    /// <c>strata bench --migration</c>: creates the VM on <paramref name="here"/>, moves it to <paramref name="target"/>
    /// and back, <paramref name="moves"/> moves in all, and removes it wherever it is at the end, also when cancelled.
    /// </summary>
    public static async Task<MigrationReport> RunAsync(MigrationSide here, MigrationSide target, int moves, IProgress<string>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(here);
        ArgumentNullException.ThrowIfNull(target);
        const long Memory = 256L << 20;
        await RemoveEverywhereAsync(here, target).ConfigureAwait(false); // an interrupted run's VM
        List<MigrationMove> done = [];
        try
        {
            progress?.Report($"booting a 256 MiB busybox VM on {here.Name}");
            await CreateAsync(here.Client, InstanceName, Counter, Memory, ct).ConfigureAwait(false);
            for (var i = 0; i < moves; i++)
            {
                var (from, to) = i % 2 == 0 ? (here, target) : (target, here);
                progress?.Report($"move {i + 1}/{moves}: {from.Name} -> {to.Name}");
                var (move, _) = await MoveAsync(from, to, InstanceName, bandwidth: null, i + 1, ct).ConfigureAwait(false);
                done.Add(move);
                progress?.Report(string.Create(CultureInfo.InvariantCulture,
                    $"move {i + 1}/{moves}: guest downtime {move.GuestDowntimeMs:0} ms, QEMU {move.QemuDowntimeMs:0} ms, whole {move.WholeMoveSeconds:0.00} s"));
            }
        }
        finally
        {
            await RemoveEverywhereAsync(here, target).ConfigureAwait(false);
        }
        return new MigrationReport
        {
            Instance = $"busybox VM, {Memory >> 20} MiB, idle (a counter every 10 ms)",
            MemoryBytes = Memory,
            Here = here.Name,
            Target = target.Name,
            Moves = done,
            MedianGuestDowntimeMs = Median(done.Select(m => m.GuestDowntimeMs)),
            MedianLargestGapMs = Median(done.Select(m => m.LargestGapMs)),
            MedianQemuDowntimeMs = Median(done.Select(m => m.QemuDowntimeMs)),
            MedianWholeMoveSeconds = Median(done.Select(m => m.WholeMoveSeconds)),
            MedianRamBytes = Median(done.Select(m => (double)m.RamBytes)),
            MedianDiskBytes = Median(done.Select(m => (double)m.DiskBytes)),
            Load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "",
        };
    }

    /// <summary>Removes the bench's VM on both daemons (not cancellable: Ctrl-C's cleanup).</summary>
    public static async Task RemoveEverywhereAsync(MigrationSide here, MigrationSide target)
    {
        ArgumentNullException.ThrowIfNull(here);
        ArgumentNullException.ThrowIfNull(target);
        foreach (var side in new[] { here, target })
        {
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            try
            {
                await side.Client.DeleteAsync(InstanceName, force: true, limit.Token).ConfigureAwait(false);
            }
            catch (StrataApiException e) when (e.Kind == ErrorKind.NotFound)
            {
            }
        }
    }

    /// <summary>The counter lines of <paramref name="name"/>'s log on one daemon.</summary>
    public static async Task<List<(DateTimeOffset Time, long Value)>> LinesAsync(StrataClient client, string name, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        List<(DateTimeOffset, long)> lines = [];
        await foreach (var frame in client.LogsAsync(name, ct: ct).ConfigureAwait(false))
        {
            if (frame.Log is { } log && long.TryParse(log.Text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var v))
            {
                lines.Add((log.Time, v));
            }
        }
        return lines;
    }

    private static double Median(IEnumerable<double> values)
    {
        var m = BenchStatistics.Median(values);
        return double.IsNaN(m) ? 0 : Math.Round(m, 3);
    }

    /// <summary>The bench table: one row per move, then the medians.</summary>
    public static TextTable Table(MigrationReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        static string Mib(double bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:0.0} MiB");
        List<IReadOnlyList<string>> rows = [.. report.Moves.Select(m => (IReadOnlyList<string>)
        [
            m.Number.ToString(CultureInfo.InvariantCulture), $"{m.From} -> {m.To}", BenchTables.Ms(m.GuestDowntimeMs), BenchTables.Ms(m.LargestGapMs),
            BenchTables.Ms(m.QemuDowntimeMs), string.Create(CultureInfo.InvariantCulture, $"{m.WholeMoveSeconds:0.00} s"), Mib(m.RamBytes), Mib(m.DiskBytes),
        ])];
        rows.Add(["median", "", BenchTables.Ms(report.MedianGuestDowntimeMs), BenchTables.Ms(report.MedianLargestGapMs), BenchTables.Ms(report.MedianQemuDowntimeMs),
            string.Create(CultureInfo.InvariantCulture, $"{report.MedianWholeMoveSeconds:0.00} s"), Mib(report.MedianRamBytes), Mib(report.MedianDiskBytes)]);
        return new TextTable($"Live moves of an idle {report.MemoryBytes >> 20} MiB busybox VM, {report.Here} <-> {report.Target}",
            ["move", "from -> to", "guest downtime", "largest gap", "QEMU downtime", "whole move", "RAM sent", "disk sent"], rows);
    }
}
