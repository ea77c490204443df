namespace Strata.Testing;

/// <summary>
/// The published <c>strata</c> CLI (scripts/publish-native.sh) run as a user would, through <see cref="ChildProcess"/>:
/// its exit code, stdout and stderr, its process tree killed at the deadline.
/// </summary>
public static class PublishedCli
{
    /// <summary>Where the published strata is (callers that need it call <see cref="TestEnvironment.RequireArtifact"/> or check it).</summary>
    public static string Path => System.IO.Path.Combine(TestEnvironment.ArtifactsBin, "strata");

    /// <summary>strata <paramref name="args"/> against the daemon on <paramref name="socket"/> (<c>STRATA_SOCKET</c>).</summary>
    public static (int ExitCode, string Stdout, string Stderr) Run(string socket, TimeSpan timeout, params string[] args) =>
        Run(Socket(socket), timeout, args);

    /// <summary>strata <paramref name="args"/> with <paramref name="environment"/> set (a null value removes the variable).</summary>
    public static (int ExitCode, string Stdout, string Stderr) Run(IReadOnlyDictionary<string, string?> environment, TimeSpan timeout, params string[] args) =>
        ChildProcess.Run(Path, args, timeout, environment);

    /// <summary>Like <see cref="Run(string, TimeSpan, string[])"/>, awaiting its end.</summary>
    public static Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string socket, TimeSpan timeout, params string[] args) =>
        RunAsync(Socket(socket), timeout, args);

    /// <summary>Like <see cref="Run(IReadOnlyDictionary{string, string}, TimeSpan, string[])"/>, awaiting its end.</summary>
    public static Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(IReadOnlyDictionary<string, string?> environment, TimeSpan timeout, params string[] args) =>
        ChildProcess.RunAsync(Path, args, timeout, environment);

    private static Dictionary<string, string?> Socket(string socket) => new() { ["STRATA_SOCKET"] = socket };
}
