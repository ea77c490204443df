using System.Diagnostics;
using Xunit;

namespace Strata.Testing;

/// <summary>
/// Where the repository and its built artifacts are, and what this host can do. A test that needs something
/// missing skips with the reason on a developer machine, and fails under CI (CI=true), where every engine
/// must be exercised for real.
/// </summary>
public static class TestEnvironment
{
    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static bool IsRoot => Environment.UserName == "root" || GetEuid() == 0;

    private static uint GetEuid()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("Uid:", StringComparison.Ordinal))
                {
                    return uint.Parse(line.Split('\t', StringSplitOptions.RemoveEmptyEntries)[2], System.Globalization.CultureInfo.InvariantCulture);
                }
            }
        }
        catch (IOException)
        {
        }
        return uint.MaxValue;
    }

    public static string RepoRoot { get; } = FindRepoRoot();

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Strata.slnx")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (Strata.slnx) above " + AppContext.BaseDirectory);
    }

    /// <summary>The NativeAOT binaries published by scripts/publish-native.sh.</summary>
    public static string ArtifactsBin => Environment.GetEnvironmentVariable("STRATA_BIN") ?? Path.Combine(RepoRoot, "artifacts", "bin");

    /// <summary>Skips (or fails under CI) when a condition for the test does not hold.</summary>
    public static void Require(bool condition, string reason)
    {
        if (condition)
        {
            return;
        }
        if (IsCi)
        {
            throw new InvalidOperationException($"required in CI but missing: {reason}");
        }
        Skip.If(true, reason);
    }

    /// <summary>strata-supervisor: STRATA_SUPERVISOR when set, else the published one; null when missing.</summary>
    public static string? Supervisor
    {
        get
        {
            var fromEnv = Environment.GetEnvironmentVariable("STRATA_SUPERVISOR");
            var path = string.IsNullOrEmpty(fromEnv) ? Path.Combine(ArtifactsBin, "strata-supervisor") : fromEnv;
            return File.Exists(path) ? path : null;
        }
    }

    public static string RequireArtifact(string name)
    {
        var path = Path.Combine(ArtifactsBin, name);
        Require(File.Exists(path), $"{path} is missing; run scripts/publish-native.sh first");
        return path;
    }

    public static string? Which(string command)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':'))
        {
            var candidate = Path.Combine(dir, command);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    /// <summary>A TCP port on loopback that nothing listens on now.</summary>
    public static int FreeLoopbackPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// How much longer than written every <see cref="EventuallyAsync(Func{bool}, TimeSpan, TimeSpan?)"/> deadline is:
    /// <c>STRATA_TEST_TIME_SCALE</c> when set, else 3 under <c>CI=true</c> (a 2-core runner booting QEMU under TCG
    /// is several times slower than a developer's machine), else 1. A condition that holds ends the wait at once, so
    /// the scale costs time only when a test is failing anyway.
    /// </summary>
    public static double TimeScale { get; } =
        double.TryParse(Environment.GetEnvironmentVariable("STRATA_TEST_TIME_SCALE"), System.Globalization.NumberStyles.Float,
            System.Globalization.CultureInfo.InvariantCulture, out var scale) && scale >= 1 ? scale
        : IsCi ? 3 : 1;

    /// <summary>A test's deadline, stretched by <see cref="TimeScale"/>.</summary>
    public static TimeSpan Scaled(TimeSpan timeout) => timeout * TimeScale;

    /// <summary>Polls a condition until it holds or the deadline (stretched by <see cref="TimeScale"/>) passes (never a blind sleep).</summary>
    public static async Task<bool> EventuallyAsync(Func<bool> condition, TimeSpan timeout, TimeSpan? interval = null)
    {
        timeout = Scaled(timeout);
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            if (condition())
            {
                return true;
            }
            await Task.Delay(interval ?? TimeSpan.FromMilliseconds(20)).ConfigureAwait(false);
        }
        return condition();
    }

    /// <summary>Polls an asynchronous condition until it holds or the deadline (stretched by <see cref="TimeScale"/>) passes.</summary>
    public static async Task<bool> EventuallyAsync(Func<Task<bool>> condition, TimeSpan timeout, TimeSpan? interval = null)
    {
        ArgumentNullException.ThrowIfNull(condition);
        timeout = Scaled(timeout);
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            if (await condition().ConfigureAwait(false))
            {
                return true;
            }
            await Task.Delay(interval ?? TimeSpan.FromMilliseconds(20)).ConfigureAwait(false);
        }
        return await condition().ConfigureAwait(false);
    }

    /// <summary>Runs a program to its end (at most a minute) in /, with <paramref name="stdin"/> as its input: exit code, stdout, stderr.</summary>
    public static (int ExitCode, string Stdout, string Stderr) Exec(string file, IEnumerable<string> args, string? stdin = null) =>
        ChildProcess.Run(file, args, TimeSpan.FromSeconds(60), stdin: stdin ?? "", workingDirectory: "/");

    /// <summary>Private (anonymous) resident memory of a process in bytes, from /proc/PID/status RssAnon.</summary>
    public static long RssAnonBytes(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("RssAnon:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }
        return 0;
    }
}

/// <summary>A temporary directory removed at dispose. Short paths, so unix sockets inside fit in 107 bytes.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix = "strata-test")
    {
        Path = System.IO.Path.Combine("/tmp", $"{prefix}-{Guid.NewGuid().ToString("N")[..10]}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
