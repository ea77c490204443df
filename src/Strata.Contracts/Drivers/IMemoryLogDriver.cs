namespace Strata.Contracts.Drivers;

/// <summary>
/// A driver that keeps some instances' output in memory instead of the CRI log files under the instance's
/// directory (an auto-removed wasm run: nothing outlives the daemon, so no file is written). Readers ask the
/// instance service (<c>AttachLease.MemoryLog</c>), never the driver.
/// </summary>
public interface IMemoryLogDriver
{
    /// <summary>The in-memory output of the instance, or null when its output is in files.</summary>
    IMemoryLog? FindLog(string instanceId);
}

/// <summary>An instance's output in memory, read by position (records ever written) without polling.</summary>
public interface IMemoryLog
{
    /// <summary>Position after the newest record.</summary>
    long End { get; }

    /// <summary>Appends the records from <paramref name="position"/> on to <paramref name="output"/> and moves the position past them.</summary>
    void Read(ref long position, List<LogRecord> output);

    /// <summary>Completes as soon as a record beyond <paramref name="position"/> is written.</summary>
    Task WaitAsync(long position);
}

/// <summary>Where every driver writes an instance's output as CRI log files: <c>&lt;instanceDir&gt;/logs/</c>.</summary>
public static class InstanceLogs
{
    public const string DirectoryName = "logs";

    public static string DirectoryOf(string instanceDirectory) => Path.Combine(instanceDirectory, DirectoryName);
}
