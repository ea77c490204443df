using System.Diagnostics;
using Strata.Client;
using Strata.Contracts;
using Strata.Contracts.Host;

namespace Strata.Bench.Core;

/// <summary>What the benchmark programs time and wait for: a command run to completion, a daemon coming up.</summary>
public static class TimedCommand
{
    /// <summary>Runs a command to completion (through <see cref="HostTool"/>) and returns its wall time in ms; a failure throws naming it.</summary>
    public static double Run(string file, params string[] args) => Run(file, null, args);

    /// <inheritdoc cref="Run(string, string[])"/>
    public static double Run(string file, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var clock = Stopwatch.StartNew();
        // The programs call this from synchronous lambdas they alternate (A B C A B C); the runner is asynchronous.
        var result = HostTool.RunAsync(file, args, new HostToolOptions { Environment = environment }).GetAwaiter().GetResult();
        var ms = clock.Elapsed.TotalMilliseconds;
        return result.Succeeded ? ms
            : throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', args)} failed ({result.ExitCode}): {result.Error}");
    }

    /// <summary>What a command prints on its standard output (e.g. <c>--version</c>); a failure throws naming it.</summary>
    public static string Output(string file, params string[] args)
    {
        var result = HostTool.RunAsync(file, args).GetAwaiter().GetResult();
        return result.Succeeded ? result.Stdout
            : throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', args)} failed ({result.ExitCode}): {result.Error}");
    }

    /// <summary>Runs a clean-up command whose failure does not matter (e.g. removing an image that may be gone).</summary>
    public static void RunQuietly(string file, params string[] args)
    {
        try
        {
            HostTool.RunAsync(file, args).GetAwaiter().GetResult();
        }
        catch (StrataException)
        {
            // Not runnable at all: nothing to clean up with it either.
        }
    }

    /// <summary>Waits until the daemon answers <c>GET /v1/info</c>; throws the last error after <paramref name="timeout"/>.</summary>
    public static async Task<DaemonInfo> WaitForDaemonAsync(StrataClient client, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(client);
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                return await client.InfoAsync().ConfigureAwait(false);
            }
            catch (DaemonUnreachableException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50).ConfigureAwait(false);
            }
        }
    }
}
