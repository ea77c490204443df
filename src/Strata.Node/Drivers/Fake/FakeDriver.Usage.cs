using System.Globalization;
using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Node.Drivers.Fake;

/// <summary>
/// The fake tier's stats and resize: the <c>use</c> script's usage on the driver's clock, limits from the spec that
/// resize changes in place, and an OOM kill when the usage passes the memory limit (read at the next reading).
/// </summary>
public sealed partial class FakeDriver
{
    public Task<InstanceStats> StatsAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        var reading = Read(handle);
        var usage = Find(handle).Usage;
        return Task.FromResult(new InstanceStats
        {
            Name = handle.InstanceId,
            CpuNanoseconds = reading.CpuNanoseconds,
            CpuPercent = Math.Round(usage.Cores * 100, 1),
            MemoryBytes = reading.MemoryBytes,
            MemoryLimitBytes = reading.MemoryLimitBytes,
        });
    }

    public Task<UsageReading> ReadUsageAsync(DriverHandle handle, CancellationToken cancellationToken) => Task.FromResult(Read(handle));

    public Task<IReadOnlyList<ProcessEntry>> TopAsync(DriverHandle handle, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<ProcessEntry>>([]);

    /// <summary>Limits set by resize, which later starts keep (as the container and process tiers keep theirs).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (long? MemoryBytes, double? Cpus)> _kept = new();

    /// <summary>Changes the limits in place; a finished instance has them for its next start.</summary>
    public Task<ResizeResult> ResizeAsync(DriverHandle handle, long? memoryBytes, double? cpus, CancellationToken cancellationToken)
    {
        var run = Find(handle);
        if (handle.Data.TryGetValue("argv", out var argv) && argv.Split('\u001f')[0] == "fail-resize")
        {
            throw new StrataException(ErrorKind.Internal, "fake resize failure (requested by the fail-resize script)");
        }
        if (memoryBytes is { } m)
        {
            run.Usage.MemoryLimitBytes = m;
        }
        if (cpus is { } c)
        {
            run.Usage.Cpus = c;
        }
        _kept[handle.InstanceId] = (run.Usage.MemoryLimitBytes, run.Usage.Cpus);
        var memory = run.Usage.MemoryLimitBytes ?? 0;
        var cores = run.Usage.Cpus ?? Environment.ProcessorCount;
        return Task.FromResult(new ResizeResult(memory, memory, cores, Environment.ProcessorCount, Kept: true));
    }

    private UsageReading Read(DriverHandle handle)
    {
        var run = Find(handle);
        var u = run.Usage;
        var now = run.Exit.Task.IsCompleted ? run.Exit.Task.Result.FinishedAt : _time.GetUtcNow();
        var memory = u.MemoryAt(now);
        if (u.MemoryLimitBytes is { } limit && memory > limit && !run.Exit.Task.IsCompleted)
        {
            u.OomKills++;
            run.Exit.TrySetResult(new ExitStatus { ExitCode = 137, Reason = "oom-killed", OomKilled = true, FinishedAt = now });
            memory = limit;
        }
        return new UsageReading((long)(u.Cores * (now - u.Started).TotalSeconds * 1e9), memory, u.MemoryLimitBytes, u.OomKills);
    }

    private Run Find(DriverHandle handle) => _runs.TryGetValue(handle.InstanceId, out var run) ? run
        : throw StrataException.Conflict($"fake instance {handle.InstanceId} is not running");

    /// <summary>The handle's data: the argv, and the spec's limits; a <c>use</c> script with bad numbers is refused here.</summary>
    private static Dictionary<string, string> HandleData(InstanceSpec spec, IReadOnlyList<string> argv)
    {
        var data = new Dictionary<string, string> { ["argv"] = string.Join('\u001f', argv) };
        if (spec.Resources?.MemoryBytes is { } m)
        {
            data[FakeUsage.MemoryKey] = m.ToString(CultureInfo.InvariantCulture);
        }
        if (spec.Resources?.Cpus is { } c)
        {
            data[FakeUsage.CpusKey] = c.ToString(CultureInfo.InvariantCulture);
        }
        FakeUsage.Parse(argv, data, DateTimeOffset.UnixEpoch);
        return data;
    }
}

/// <summary>The usage a fake workload reports; limits are mutable because resize changes them in place.</summary>
public sealed class FakeUsage
{
    internal const string MemoryKey = "memoryBytes";
    internal const string CpusKey = "cpus";

    public required DateTimeOffset Started { get; init; }
    public double MemoryMib { get; init; }
    public double Cores { get; init; }
    public double GrowthMibPerHour { get; init; }
    public long? MemoryLimitBytes { get; set; }
    public double? Cpus { get; set; }
    public long OomKills { get; set; }

    public long MemoryAt(DateTimeOffset now) =>
        (long)((MemoryMib + GrowthMibPerHour * Math.Max(0, (now - Started).TotalHours)) * 1024 * 1024);

    /// <summary>The <c>use MIB [CORES] [MIB_PER_HOUR]</c> script (any other script uses nothing), and the spec's limits.</summary>
    public static FakeUsage Parse(IReadOnlyList<string> argv, IReadOnlyDictionary<string, string> data, DateTimeOffset started)
    {
        double Arg(int i, string what)
        {
            if (i >= argv.Count)
            {
                return 0;
            }
            return double.TryParse(argv[i], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= 0 ? v
                : throw StrataException.Invalid("args", $"the fake tier's 'use' script takes MIB [CORES] [MIB_PER_HOUR]; '{argv[i]}' is not a valid {what} (a number ≥ 0)");
        }
        var use = argv.Count > 0 && argv[0] == "use";
        if (use && argv.Count < 2)
        {
            throw StrataException.Invalid("args", "the fake tier's 'use' script needs the memory in MiB: use MIB [CORES] [MIB_PER_HOUR]");
        }
        return new FakeUsage
        {
            Started = started,
            MemoryMib = use ? Arg(1, "memory in MiB") : 0,
            Cores = use ? Arg(2, "number of cores") : 0,
            GrowthMibPerHour = use ? Arg(3, "growth in MiB per hour") : 0,
            MemoryLimitBytes = data.TryGetValue(MemoryKey, out var m) ? long.Parse(m, CultureInfo.InvariantCulture) : null,
            Cpus = data.TryGetValue(CpusKey, out var c) ? double.Parse(c, CultureInfo.InvariantCulture) : null,
        };
    }
}
