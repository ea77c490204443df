using System.Diagnostics;
using System.Globalization;
using Strata.Qemu.Guest;

namespace Strata.Qemu.Migration;

/// <summary>
/// The guest program whose output measures a move as the guest sees it: it prints a counter every 10 ms, so the
/// counter must continue on the target without restarting, and the largest gap between lines is the downtime.
/// </summary>
public static class GuestCounter
{
    /// <summary>The counter as a workload; <paramref name="before"/> runs first, on its own line (so it may end in <c>&amp;</c>): e.g. writes a file or starts a RAM dirtier.</summary>
    public static GuestWorkload Workload(string before = "true") =>
        new(["sh", "-c", before + "\ni=0; while :; do echo $i; i=$((i+1)); usleep 10000; done"]);

    /// <summary>A tiny root for a disk: busybox with the applets the counter and its preludes use.</summary>
    public static string BuildRoot(string directory)
    {
        foreach (var d in new[] { "bin", "etc", "proc", "sys", "dev", "tmp" })
        {
            Directory.CreateDirectory(Path.Combine(directory, d));
        }
        File.Copy("/bin/busybox", Path.Combine(directory, "bin", "busybox"));
        foreach (var applet in new[] { "sh", "echo", "usleep", "sync", "cat", "dd", "sleep" })
        {
            File.CreateSymbolicLink(Path.Combine(directory, "bin", applet), "busybox");
        }
        return directory;
    }
}

/// <summary>
/// Reads a guest's stdout file as QEMU appends to it and timestamps every complete line on arrival (polling every
/// millisecond), so gaps in a guest's output are measured on the host clock, which keeps running while the guest is
/// paused (the guest's own clock does not).
/// </summary>
public sealed class CounterTail : IAsyncDisposable
{
    private readonly string _path;
    private readonly List<(long Value, long At)> _lines = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public CounterTail(string path)
    {
        _path = path;
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>Every counter value read so far, with its arrival time (a <see cref="Stopwatch"/> timestamp).</summary>
    public IReadOnlyList<(long Value, long At)> Lines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }
    }

    public async Task WaitForLinesAsync(int count, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (Lines.Count < count)
        {
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"{_path} has {Lines.Count} counter lines after {timeout.TotalSeconds:0} s, expected {count}");
            }
            await Task.Delay(20).ConfigureAwait(false);
        }
    }

    public Task WaitForMoreAsync(int more, TimeSpan timeout) => WaitForLinesAsync(Lines.Count + more, timeout);

    private async Task LoopAsync()
    {
        long offset = 0;
        var pending = "";
        while (!_stop.IsCancellationRequested)
        {
            if (File.Exists(_path))
            {
                using var f = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                if (f.Length > offset)
                {
                    f.Position = offset;
                    var buffer = new byte[f.Length - offset];
                    var n = await f.ReadAsync(buffer).ConfigureAwait(false);
                    offset += n;
                    var now = Stopwatch.GetTimestamp();
                    pending += System.Text.Encoding.ASCII.GetString(buffer, 0, n);
                    var cut = pending.LastIndexOf('\n');
                    if (cut >= 0)
                    {
                        lock (_lines)
                        {
                            foreach (var line in pending[..cut].Split('\n'))
                            {
                                if (long.TryParse(line, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
                                {
                                    _lines.Add((v, now));
                                }
                            }
                        }
                        pending = pending[(cut + 1)..];
                    }
                }
            }
            try
            {
                await Task.Delay(1, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}

/// <summary>The counter as both sides printed it: whether it continued without restarting, and the largest gap the host saw.</summary>
public sealed record CounterTrace(long LastOnSource, long FirstOnTarget, bool Contiguous, TimeSpan LargestGap, TimeSpan SwitchGap)
{
    public static CounterTrace Of(IReadOnlyList<(long Value, long At)> source, IReadOnlyList<(long Value, long At)> target)
    {
        var all = source.Concat(target).ToList();
        var contiguous = all.Count > 1 && all.Zip(all.Skip(1)).All(p => p.Second.Value == p.First.Value + 1);
        var largest = all.Zip(all.Skip(1)).Select(p => p.Second.At - p.First.At).DefaultIfEmpty(0).Max();
        var switchGap = source.Count > 0 && target.Count > 0 ? target[0].At - source[^1].At : 0;
        return new CounterTrace(source.Count > 0 ? source[^1].Value : -1, target.Count > 0 ? target[0].Value : -1, contiguous,
            Stopwatch.GetElapsedTime(0, largest), Stopwatch.GetElapsedTime(0, switchGap));
    }
}

