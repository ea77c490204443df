using System.Diagnostics;
using System.Globalization;
using Strata.Client;
using Strata.Contracts;
using Strata.Qemu;
using Strata.Qemu.Guest;

namespace Strata.Bench.Core;

/// <summary>One start-latency sample: request to first output (when the target can tell) and request to exit.</summary>
public readonly record struct RunSample(double? FirstOutputMs, double ExitMs);

/// <summary>Something the start-latency rounds run once per round: a tier through Strata, or a baseline tool.</summary>
public interface IBenchTarget
{
    string Name { get; }
    /// <summary><c>tier</c> or <c>baseline</c>.</summary>
    string Kind { get; }
    string Label { get; }
    string? Baseline { get; }
    string? Engine { get; }
    /// <summary>Seconds per run (VM boots): fewer rounds, no separate warm-up.</summary>
    bool Slow { get; }
    Task<RunSample> RunOnceAsync(CancellationToken ct);
}

/// <summary>
/// A tier through the API exactly as <c>strata run --rm</c> uses it: one attached request that creates, starts,
/// streams output and reports the exit. Every instance is named <c>bench-…</c> and recorded for cleanup.
/// </summary>
public sealed class TierTarget(StrataClient client, string tier, InstanceSpec trivial, InstanceTracker tracker, bool slow, string? baseline, string? engine) : IBenchTarget
{
    public string Name => tier;
    public string Kind => "tier";
    public string Label => $"strata run --rm --tier {tier}";
    public string? Baseline => baseline;
    public string? Engine => engine;
    public bool Slow => slow;

    public async Task<RunSample> RunOnceAsync(CancellationToken ct)
    {
        var name = tracker.NewName(tier);
        var spec = trivial with { Name = name, Tier = tier, AutoRemove = true, Labels = InstanceTracker.Labels(tracker.RunId) };
        double? first = null;
        WaitResult? exit = null;
        var sw = Stopwatch.StartNew();
        await foreach (var frame in client.RunAttachedAsync(spec, ct).ConfigureAwait(false))
        {
            if (frame.Log is not null && first is null)
            {
                first = sw.Elapsed.TotalMilliseconds;
            }
            if (frame.Exit is { } e)
            {
                exit = e;
                break; // the exit is known: that is where `strata run --rm` returns (removal finishes in the daemon)
            }
        }
        var ms = sw.Elapsed.TotalMilliseconds;
        if (exit is null || exit.ExitCode != 0)
        {
            throw new InvalidOperationException($"{tier} run {name} did not succeed: {exit?.State ?? "no exit reported"} {exit?.ExitCode} {exit?.Reason}".TrimEnd());
        }
        return new RunSample(first, ms);
    }
}

/// <summary>A baseline command run directly (the tool people would use instead), timed to its first output and exit.</summary>
public sealed class CommandTarget(string name, string label, string file, Func<IReadOnlyList<string>> arguments, string? engine = null, bool slow = false) : IBenchTarget
{
    public string Name => name;
    public string Kind => "baseline";
    public string Label => label;
    public string? Baseline => null;
    public string? Engine => engine;
    public bool Slow => slow;

    public async Task<RunSample> RunOnceAsync(CancellationToken ct)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in arguments())
        {
            start.ArgumentList.Add(a);
        }
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(start)!;
        p.StandardInput.Close();
        var stderr = p.StandardError.ReadToEndAsync(ct);
        double? first = null;
        var buffer = new char[256];
        try
        {
            while (await p.StandardOutput.ReadAsync(buffer, ct).ConfigureAwait(false) > 0)
            {
                first ??= sw.Elapsed.TotalMilliseconds;
            }
            await p.WaitForExitAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw;
        }
        var ms = sw.Elapsed.TotalMilliseconds;
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{label} exited {p.ExitCode}: {(await stderr.ConfigureAwait(false)).Trim()}");
        }
        return new RunSample(first, ms);
    }
}

/// <summary>
/// Raw QEMU with what the sandbox tier boots: the same kernel, the daemon's cached initramfs and base disk (a fresh
/// qcow2 overlay per run, as the sandbox makes), accelerator and flags, built by Strata.Qemu's own planner;
/// timed from launch to QEMU's exit (the guest's output goes to a file, so there is no first-output time).
/// </summary>
public sealed class RawQemuTarget(string kernel, string initrd, string baseDisk, string accel, string work) : IBenchTarget
{
    private int _runs;

    public string Name => "qemu";
    public string Kind => "baseline";
    public string Label => "qemu-system-x86_64 -M microvm (same kernel, initramfs, disk)";
    public string? Baseline => null;
    public string? Engine => accel.ToUpperInvariant();
    public bool Slow => true;

    /// <summary>Finds the sandbox tier's cached guest files under the daemon's root, or says why it cannot.</summary>
    public static (RawQemuTarget? Target, string? Why) Locate(string daemonRoot, string accel, string work)
    {
        try
        {
            var (cache, initrd, disk) = RawGuestRun.CachedFiles(daemonRoot);
            if (initrd is null || disk is null)
            {
                return (null, $"the guest tiers' cached initramfs and disk are not under {cache}");
            }
            return (new RawQemuTarget(GuestKernel.Locate().KernelPath, initrd, disk, accel, work), null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or StrataException)
        {
            return (null, $"cannot read the sandbox tier's cache under the daemon's root {daemonRoot} ({e.Message}); run the bench on the daemon's host as its user");
        }
    }

    public Task<RunSample> RunOnceAsync(CancellationToken ct) =>
        RawGuestRun.RunAsync(RawGuestRun.RunDirectory(work, "qemu", ref _runs), kernel, initrd, baseDisk, accel, work, "raw QEMU run", null, null, ct);
}

/// <summary>Names, labels and remembers every instance a bench run creates, so all of them can be removed at the end.</summary>
public sealed class InstanceTracker(string runId)
{
    public const string Label = "strata-bench";
    public const string Prefix = "bench-";
    private readonly List<string> _names = [];
    private int _counter;

    public string RunId => runId;

    public IReadOnlyList<string> Names
    {
        get
        {
            lock (_names)
            {
                return [.. _names];
            }
        }
    }

    public string NewName(string tier)
    {
        var name = $"{Prefix}{runId}-{tier}-{Interlocked.Increment(ref _counter).ToString(CultureInfo.InvariantCulture)}";
        lock (_names)
        {
            _names.Add(name);
        }
        return name;
    }

    public static Dictionary<string, string> Labels(string runId) => new() { [Label] = runId };
}
