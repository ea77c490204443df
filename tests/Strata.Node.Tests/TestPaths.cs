namespace Strata.Node.Tests;

internal static class TestPaths
{
    /// <summary>The repository root (the directory holding Strata.slnx).</summary>
    public static string RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Strata.slnx")))
                {
                    return dir.FullName;
                }
            }
            throw new InvalidOperationException("Strata.slnx not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>$STRATA_SUPERVISOR, else artifacts/bin/strata-supervisor (scripts/publish-native.sh); null when missing.</summary>
    public static string? Supervisor
    {
        get
        {
            var fromEnv = Environment.GetEnvironmentVariable("STRATA_SUPERVISOR");
            var path = string.IsNullOrEmpty(fromEnv) ? Path.Combine(RepoRoot, "artifacts", "bin", "strata-supervisor") : fromEnv;
            return File.Exists(path) ? path : null;
        }
    }
}

/// <summary>A temporary directory removed when disposed.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Path = Directory.CreateTempSubdirectory("strata-node-tests-").FullName;

    public string Path { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>
/// A fact that needs the NativeAOT supervisor. Without it the test is skipped with the reason — except
/// in CI (CI=true), where it runs and fails, because a missing supervisor there is a broken build.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class SupervisorFactAttribute : FactAttribute
{
    public SupervisorFactAttribute()
    {
        if (TestPaths.Supervisor is null && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Skip = "strata-supervisor is not built: run scripts/publish-native.sh (or set STRATA_SUPERVISOR)";
        }
    }
}

internal static class Eventually
{
    /// <summary>Polls <paramref name="condition"/> until it holds; fails after <paramref name="timeout"/>.</summary>
    public static async Task TrueAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail("timed out waiting for: " + what);
            }
            await Task.Delay(10);
        }
    }
}
