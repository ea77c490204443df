using System.Text.Json;

namespace Strata.Qemu.Migration;

/// <summary>The parts of QEMU's <c>query-migrate</c> answer a move reads.</summary>
internal sealed record MigrationStatus
{
    public string Status { get; init; } = "none";
    public long RamTransferred { get; init; }
    public long RamRemaining { get; init; }
    public long RamTotal { get; init; }
    public long DirtyRate { get; init; }
    public long Iterations { get; init; }
    public double Mbps { get; init; }
    public TimeSpan? ExpectedDowntime { get; init; }
    public TimeSpan? Downtime { get; init; }
    public int ThrottlePercent { get; init; }
    public string? Error { get; init; }

    /// <summary>States in which a migration is under way and <c>migrate_cancel</c> applies.</summary>
    public bool IsActive => Status is "setup" or "active" or "pre-switchover" or "device" or "wait-unplug" or "cancelling";

    public bool IsPostcopy => Status is "postcopy-active" or "postcopy-paused" or "postcopy-recover";

    public static MigrationStatus Parse(JsonElement e)
    {
        var status = Str(e, "status") ?? "none";
        long transferred = 0, remaining = 0, total = 0, dirtyPages = 0, iterations = 0, pageSize = 4096;
        double mbps = 0;
        if (e.TryGetProperty("ram", out var ram) && ram.ValueKind == JsonValueKind.Object)
        {
            transferred = Long(ram, "transferred");
            remaining = Long(ram, "remaining");
            total = Long(ram, "total");
            dirtyPages = Long(ram, "dirty-pages-rate");
            iterations = Long(ram, "dirty-sync-count");
            pageSize = Long(ram, "page-size") is > 0 and var p ? p : 4096;
            mbps = ram.TryGetProperty("mbps", out var m) && m.ValueKind == JsonValueKind.Number ? m.GetDouble() : 0;
        }
        return new MigrationStatus
        {
            Status = status,
            RamTransferred = transferred,
            RamRemaining = remaining,
            RamTotal = total,
            DirtyRate = dirtyPages * pageSize,
            Iterations = iterations,
            Mbps = mbps,
            ExpectedDowntime = e.TryGetProperty("expected-downtime", out var x) && x.ValueKind == JsonValueKind.Number ? TimeSpan.FromMilliseconds(x.GetInt64()) : null,
            Downtime = e.TryGetProperty("downtime", out var d) && d.ValueKind == JsonValueKind.Number ? TimeSpan.FromMilliseconds(d.GetInt64()) : null,
            ThrottlePercent = (int)Long(e, "cpu-throttle-percentage"),
            Error = Str(e, "error-desc"),
        };
    }

    public MigrationProgress ToProgress(MigrationPhase phase, TimeSpan elapsed, long diskCopied, long diskTotal) => new()
    {
        Phase = phase,
        Status = Status,
        Elapsed = elapsed,
        RamTransferred = RamTransferred,
        RamRemaining = RamRemaining,
        RamTotal = RamTotal,
        DirtyRate = DirtyRate,
        ExpectedDowntime = ExpectedDowntime,
        Iterations = Iterations,
        ThrottlePercent = ThrottlePercent,
        Mbps = Mbps,
        DiskCopied = diskCopied,
        DiskTotal = diskTotal,
    };

    private static long Long(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var l) ? l : 0;

    private static string? Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
