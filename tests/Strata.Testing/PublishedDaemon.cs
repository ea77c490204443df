using System.Diagnostics;
using System.Globalization;
using Strata.Client;
using Strata.Contracts;
using Xunit;

namespace Strata.Testing;

/// <summary>
/// The published stratad (scripts/publish-native.sh) as a child process, for tests that crash it (<c>kill -9</c>)
/// as an operator's host would. Its output is drained, and dropped unless a caller keeps it.
/// </summary>
public static class PublishedDaemon
{
    /// <summary>The published stratad, or a skip (a failure under CI) when it is not published.</summary>
    public static string Binary => TestEnvironment.RequireArtifact("stratad");

    /// <summary>
    /// Starts stratad with <paramref name="arguments"/> (and <paramref name="environment"/> added to its environment)
    /// and waits until it answers on <paramref name="socket"/>. Its output lines go to <paramref name="output"/> when given.
    /// It runs in <paramref name="workingDirectory"/> when given. A loaded CI host can take tens of seconds to start it
    /// (it verifies its engines before it listens), so it is given two minutes.
    /// </summary>
    public static async Task<Process> StartAsync(string socket, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null,
        Action<string>? output = null, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(Binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? "",
        };
        foreach (var a in arguments)
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[name] = value;
        }
        void Forward(string? line)
        {
            if (line is not null)
            {
                output?.Invoke(line);
            }
        }
        var daemon = Process.Start(psi)!;
        daemon.OutputDataReceived += (_, e) => Forward(e.Data);
        daemon.ErrorDataReceived += (_, e) => Forward(e.Data);
        daemon.BeginOutputReadLine();
        daemon.BeginErrorReadLine();
        using var probe = new StrataClient(new ClientOptions { Socket = socket });
        var up = await TestEnvironment.EventuallyAsync(() =>
        {
            try
            {
                probe.InfoAsync().GetAwaiter().GetResult();
                return true;
            }
            catch (Exception e) when (e is StrataApiException or DaemonUnreachableException or HttpRequestException or IOException)
            {
                return false;
            }
        }, TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(100));
        Assert.True(up, "stratad did not come up within 2 minutes");
        return daemon;
    }

    /// <summary>
    /// <c>kill -9</c>, and waits for it. A daemon already killed and disposed (a test's cleanup after a failed restart
    /// holds the one it killed) is left alone, so the cleanup does not hide the test's own failure.
    /// </summary>
    public static async Task KillAsync(Process daemon)
    {
        try
        {
            daemon.Kill();
            await daemon.WaitForExitAsync();
        }
        catch (InvalidOperationException)
        {
            // no process is associated with it any more: it was killed and disposed already
        }
        daemon.Dispose();
    }

    /// <summary>
    /// Stops a daemon as an operator would: SIGTERM, then up to <paramref name="wait"/> for it to end. One still running
    /// then is killed (<c>kill -9</c>) when <paramref name="killIfItHangs"/>; otherwise the wait's
    /// <see cref="OperationCanceledException"/> fails the caller, so a daemon that hangs on stop is seen.
    /// </summary>
    public static async Task StopAsync(Process daemon, TimeSpan wait, bool killIfItHangs = true)
    {
        TestEnvironment.Exec("kill", ["-TERM", daemon.Id.ToString(CultureInfo.InvariantCulture)]);
        using (var deadline = new CancellationTokenSource(wait))
        {
            try
            {
                await daemon.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException) when (killIfItHangs)
            {
                daemon.Kill();
                await daemon.WaitForExitAsync();
            }
        }
        daemon.Dispose();
    }

    /// <summary>
    /// Removes (forced) every instance <paramref name="client"/> lists: a test's cleanup before it stops the daemon. A
    /// daemon that does not answer (killed, stopped) is left as it is; its processes are the caller's to end.
    /// </summary>
    public static async Task RemoveInstancesAsync(StrataClient client)
    {
        try
        {
            foreach (var instance in (await client.ListAsync()).Items)
            {
                await client.DeleteAsync(instance.Name, force: true);
            }
        }
        catch (Exception e) when (e is StrataApiException or DaemonUnreachableException or HttpRequestException or IOException)
        {
        }
    }

    /// <summary>
    /// Creates (and starts) every one of <paramref name="specs"/> at once, whose names start with
    /// <paramref name="prefix"/>, and kills the daemon with <c>kill -9</c> as soon as the first of them runs: the
    /// others are between create and start, or starting. Returns once every create call has ended.
    /// </summary>
    public static async Task KillDuringCreatesAsync(Process daemon, StrataClient client, string prefix, IEnumerable<InstanceSpec> specs)
    {
        var creates = specs.Select(spec => Task.Run(async () =>
        {
            try
            {
                await client.CreateAsync(spec);
            }
            catch (Exception e) when (e is StrataApiException or DaemonUnreachableException or HttpRequestException or IOException or TaskCanceledException)
            {
                // the daemon was killed under it
            }
        })).ToList();
        await TestEnvironment.EventuallyAsync(() => InstanceReality.RunningCount(client, prefix) > 0, TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(10));
        await KillAsync(daemon);
        await Task.WhenAll(creates);
    }
}
