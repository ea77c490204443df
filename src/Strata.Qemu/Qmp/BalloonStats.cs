using System.Text.Json;
using System.Text.Json.Nodes;

namespace Strata.Qemu.Qmp;

/// <summary>
/// The guest's own memory figures as its virtio balloon driver reports them (QOM property <c>guest-stats</c> of the
/// balloon device). The driver sends them only while the host polls: <see cref="ReadAsync"/> turns polling on
/// (<c>guest-stats-polling-interval</c>) the first time it finds it off, so the first reading of a guest may have none.
/// </summary>
public static class BalloonStats
{
    /// <summary>How often the guest's balloon driver refreshes its figures once polling is on.</summary>
    public const int PollingIntervalSeconds = 2;

    /// <summary>
    /// The balloon device's QOM path (a <c>virtio-balloon-pci</c> on the pc machine, a <c>virtio-balloon-device</c> on
    /// microvm's virtio-mmio), found among the devices given without an id; null when the machine has no balloon.
    /// </summary>
    public static async Task<string?> FindAsync(QmpClient qmp, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(qmp);
        foreach (var container in (string[])["/machine/peripheral-anon", "/machine/peripheral"])
        {
            var children = await qmp.ExecuteAsync("qom-list", new JsonObject { ["path"] = container }, cancellationToken).ConfigureAwait(false);
            foreach (var child in children.EnumerateArray())
            {
                var type = child.TryGetProperty("type", out var t) ? t.GetString() : null;
                if (type is "child<virtio-balloon-pci>" or "child<virtio-balloon-device>" or "child<virtio-balloon-pci-non-transitional>")
                {
                    return container + "/" + child.GetProperty("name").GetString();
                }
            }
        }
        return null;
    }

    /// <summary>
    /// The guest's figures at its last report, or null when its driver has not reported (not loaded, polling just
    /// turned on, or the guest unloaded it). Turns polling on when it is off.
    /// </summary>
    public static async Task<GuestMemoryStats?> ReadAsync(QmpClient qmp, string devicePath, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(qmp);
        var interval = await qmp.ExecuteAsync("qom-get", new JsonObject { ["path"] = devicePath, ["property"] = "guest-stats-polling-interval" }, cancellationToken).ConfigureAwait(false);
        if (interval.ValueKind != JsonValueKind.Number || interval.GetInt64() == 0)
        {
            await qmp.ExecuteAsync("qom-set", new JsonObject { ["path"] = devicePath, ["property"] = "guest-stats-polling-interval", ["value"] = PollingIntervalSeconds },
                cancellationToken).ConfigureAwait(false);
            return null;
        }
        var stats = await qmp.ExecuteAsync("qom-get", new JsonObject { ["path"] = devicePath, ["property"] = "guest-stats" }, cancellationToken).ConfigureAwait(false);
        return Parse(stats);
    }

    /// <summary>How long a resize waits for the guest to give or take the memory before it answers with what the guest has so far.</summary>
    public static readonly TimeSpan SettleWithin = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Polls the balloon's <c>actual</c> (through <paramref name="queryActual"/>) until it is within 1 MiB of
    /// <paramref name="target"/> or <paramref name="within"/> has passed; returns the last value. The guest's driver
    /// inflates or deflates at its own pace (seconds for hundreds of MiB under TCG).
    /// </summary>
    public static async Task<long> SettleAsync(Func<Task<long>> queryActual, long target, TimeSpan within, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(queryActual);
        var deadline = DateTime.UtcNow + within;
        while (true)
        {
            var actual = await queryActual().ConfigureAwait(false);
            if (Math.Abs(actual - target) < 1024 * 1024 || DateTime.UtcNow >= deadline)
            {
                return actual;
            }
            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Parses a <c>guest-stats</c> value; null when the guest never reported (<c>last-update</c> 0) or gave no total.</summary>
    public static GuestMemoryStats? Parse(JsonElement stats)
    {
        if (stats.ValueKind != JsonValueKind.Object || !stats.TryGetProperty("stats", out var s)
            || !stats.TryGetProperty("last-update", out var updated) || updated.GetInt64() == 0)
        {
            return null;
        }
        long? Get(string name) => s.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.GetInt64() >= 0 ? v.GetInt64() : null;
        if (Get("stat-total-memory") is not { } total)
        {
            return null;
        }
        return new GuestMemoryStats(DateTimeOffset.FromUnixTimeSeconds(updated.GetInt64()), total, Get("stat-free-memory"), Get("stat-available-memory"),
            Get("stat-disk-caches"), Get("stat-major-faults"), Get("stat-swap-out"));
    }
}

/// <summary>
/// One report of the guest's balloon driver, in bytes: its total memory (what the balloon left it), free, available
/// (free plus what it could reclaim; newer guest kernels), page cache, and counters of major faults and swapped-out
/// pages.
/// </summary>
public sealed record GuestMemoryStats(DateTimeOffset Updated, long TotalBytes, long? FreeBytes, long? AvailableBytes, long? DiskCachesBytes, long? MajorFaults, long? SwapOut)
{
    /// <summary>What the guest could hand out now: available where the guest says it, else free plus page cache.</summary>
    public long UnusedBytes => Math.Min(TotalBytes, AvailableBytes ?? (FreeBytes ?? 0) + (DiskCachesBytes ?? 0));

    /// <summary>What the guest uses of its total: total − <see cref="UnusedBytes"/>.</summary>
    public long UsedBytes => Math.Max(0, TotalBytes - UnusedBytes);
}
