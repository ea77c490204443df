using System.Globalization;
using Strata.Contracts;

namespace Strata.Qemu.Migration;

/// <summary>How a live migration runs: QEMU's migration capabilities and parameters, and how often progress is read.</summary>
public sealed record MigrationOptions
{
    /// <summary>QEMU's default downtime limit: the last stop-and-copy round may not take longer (by QEMU's own estimate).</summary>
    public static readonly TimeSpan DefaultDowntimeLimit = TimeSpan.FromMilliseconds(300);

    /// <summary>Used when no bandwidth is given: high enough to be no limit (QEMU 7.2 defaults to 128 MiB/s otherwise).</summary>
    public const long UnlimitedBandwidth = 64L * 1024 * 1024 * 1024;

    /// <summary>Bytes per second for RAM and the disk copy; null: no limit (<see cref="UnlimitedBandwidth"/>).</summary>
    public long? MaxBandwidth { get; init; }

    public TimeSpan DowntimeLimit { get; init; } = DefaultDowntimeLimit;

    /// <summary>Throttle the guest's vCPUs while it dirties RAM faster than it is sent, so the migration converges.</summary>
    public bool AutoConverge { get; init; } = true;

    /// <summary>
    /// Switch to postcopy after the first full RAM pass: the guest runs on the target at once and fetches the pages it
    /// still lacks from the source. Converges whatever the dirty rate, but a failure of either side or of the link
    /// then loses the guest, so it is only used on request.
    /// </summary>
    public bool Postcopy { get; init; }

    /// <summary>How often <c>query-migrate</c> is read for progress (state changes are also read as they happen).</summary>
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The whole move fails (and is undone) when it takes longer.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>How long the target may take to report <c>running</c> once the source completed.</summary>
    public TimeSpan TargetStartTimeout { get; init; } = TimeSpan.FromSeconds(30);

    internal void Validate()
    {
        if (MaxBandwidth is <= 0)
        {
            throw StrataException.Invalid("bandwidth", $"{MaxBandwidth} bytes/s is not a bandwidth; give a positive size per second such as 200M");
        }
        if (DowntimeLimit <= TimeSpan.Zero || DowntimeLimit > TimeSpan.FromSeconds(2000))
        {
            throw StrataException.Invalid("downtime", $"{DowntimeLimit.TotalMilliseconds:0} ms is out of range (1 ms - 2000 s)");
        }
        if (ProgressInterval <= TimeSpan.Zero || Timeout <= TimeSpan.Zero || TargetStartTimeout <= TimeSpan.Zero)
        {
            throw StrataException.Invalid("options", "the progress interval and the timeouts must be positive");
        }
    }

    /// <summary>
    /// Parses a bandwidth as the CLI takes it: bytes per second with an optional binary suffix K, M, G (optionally
    /// followed by <c>B</c>, <c>iB</c> or <c>/s</c>), e.g. <c>200M</c> = 200 MiB/s.
    /// </summary>
    public static long ParseBandwidth(string text)
    {
        var s = (text ?? "").Trim();
        if (s.EndsWith("/s", StringComparison.OrdinalIgnoreCase))
        {
            s = s[..^2];
        }
        if (s.EndsWith("iB", StringComparison.OrdinalIgnoreCase))
        {
            s = s[..^2];
        }
        else if (s.Length > 1 && s.EndsWith('B') && char.IsLetter(s[^2]))
        {
            s = s[..^1];
        }
        long multiplier = 1;
        if (s.Length > 0 && char.IsLetter(s[^1]))
        {
            multiplier = char.ToUpperInvariant(s[^1]) switch
            {
                'K' => 1024L,
                'M' => 1024L * 1024,
                'G' => 1024L * 1024 * 1024,
                _ => 0,
            };
            s = s[..^1];
        }
        if (multiplier == 0 || !decimal.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) || value <= 0
            || value * multiplier > long.MaxValue / 2)
        {
            throw StrataException.Invalid("bandwidth", $"'{text}' is not a bandwidth; give bytes per second with an optional K, M or G suffix, e.g. 200M");
        }
        return (long)Math.Ceiling(value * multiplier);
    }
}

/// <summary>Where one side listens: a unix socket (one host) or a TCP address (between hosts).</summary>
public sealed record MigrationChannel
{
    private MigrationChannel(string? unixPath, string? host, int port)
    {
        UnixPath = unixPath;
        Host = host;
        Port = port;
    }

    public string? UnixPath { get; }
    public string? Host { get; }
    /// <summary>The TCP port; 0 asks QEMU (RAM) or Strata (NBD) to pick a free one.</summary>
    public int Port { get; }

    public static MigrationChannel Unix(string path)
    {
        if (string.IsNullOrWhiteSpace(path) || !Path.IsPathRooted(path))
        {
            throw StrataException.Invalid("channel", $"'{path}' is not an absolute unix socket path");
        }
        if (path.Length > QemuVm.MaxSocketPath)
        {
            throw StrataException.Invalid("channel", $"{path} is too long for a unix socket path ({path.Length} > {QemuVm.MaxSocketPath} bytes)");
        }
        return new MigrationChannel(path, null, 0);
    }

    public static MigrationChannel Tcp(string host, int port)
    {
        if (string.IsNullOrWhiteSpace(host) || host.Any(c => c is ',' or ' ' or '/'))
        {
            throw StrataException.Invalid("channel", $"'{host}' is not a host name or address");
        }
        if (port is < 0 or > 65535)
        {
            throw StrataException.Invalid("channel", $"port {port} is out of range (0-65535)");
        }
        return new MigrationChannel(null, host, port);
    }

    /// <summary>The URI <c>migrate</c> and <c>migrate-incoming</c> take.</summary>
    public string ToUri() => UnixPath is not null ? "unix:" + UnixPath
        : Host!.Contains(':', StringComparison.Ordinal) ? $"tcp:[{Host}]:{Port.ToString(CultureInfo.InvariantCulture)}"
        : $"tcp:{Host}:{Port.ToString(CultureInfo.InvariantCulture)}";

    public override string ToString() => ToUri();
}

/// <summary>Where the move is.</summary>
public enum MigrationPhase
{
    /// <summary>Local disks are copied to the target's NBD export while the guest runs.</summary>
    CopyingDisks = 1,
    /// <summary>RAM is sent while the guest runs (precopy).</summary>
    SendingRam = 2,
    /// <summary>The guest runs on the target; the pages it still lacks come from the source.</summary>
    Postcopy = 3,
    /// <summary>The source is paused: the last dirty disk blocks, RAM and device state go over.</summary>
    SwitchingOver = 4,
    /// <summary>The guest runs on the target.</summary>
    Completed = 5,
}

/// <summary>One progress report, from <c>query-migrate</c> and <c>query-jobs</c>.</summary>
public sealed record MigrationProgress
{
    public MigrationPhase Phase { get; init; }
    /// <summary>QEMU's migration status (setup, active, pre-switchover, device, postcopy-active, completed, ...), or <c>none</c> while disks copy.</summary>
    public string Status { get; init; } = "none";
    public TimeSpan Elapsed { get; init; }
    public long RamTransferred { get; init; }
    public long RamRemaining { get; init; }
    public long RamTotal { get; init; }
    /// <summary>How fast the guest dirties RAM, bytes per second (QEMU's dirty page rate times its page size).</summary>
    public long DirtyRate { get; init; }
    /// <summary>QEMU's estimate of the downtime if it switched over now; null before its first estimate.</summary>
    public TimeSpan? ExpectedDowntime { get; init; }
    /// <summary>Completed RAM passes (QEMU's dirty-sync-count).</summary>
    public long Iterations { get; init; }
    /// <summary>The vCPU throttle auto-converge applies, percent.</summary>
    public int ThrottlePercent { get; init; }
    /// <summary>Transfer speed QEMU measured, megabits per second.</summary>
    public double Mbps { get; init; }
    public long DiskCopied { get; init; }
    public long DiskTotal { get; init; }
}

/// <summary>What a finished move took.</summary>
public sealed record MigrationResult
{
    public TimeSpan Total { get; init; }
    /// <summary>The downtime QEMU measured (source stop to target start, without Strata's own round trips).</summary>
    public TimeSpan QemuDowntime { get; init; }
    public TimeSpan DiskCopyTime { get; init; }
    /// <summary>RAM and device state sent, as QEMU counted it.</summary>
    public long RamBytes { get; init; }
    /// <summary>
    /// Disk bytes the mirror processed. Zero ranges count here but travel as NBD write-zeroes commands, so the data
    /// really sent is at most this (the target disk's allocated size tells).
    /// </summary>
    public long DiskBytes { get; init; }
    public long Iterations { get; init; }
    /// <summary>The highest vCPU throttle auto-converge applied, percent.</summary>
    public int MaxThrottlePercent { get; init; }
    public bool UsedPostcopy { get; init; }
}
