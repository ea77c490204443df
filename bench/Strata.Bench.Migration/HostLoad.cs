using System.Diagnostics;

namespace Strata.Bench.Migration;

/// <summary>The host's load as the bench reports it, and CPU burners that add to it (the stress and pingpong modes).</summary>
internal static class HostLoad
{
    /// <summary>The one-minute load average.</summary>
    public static string Now() => File.ReadAllText("/proc/loadavg").Split(' ')[0];

    /// <summary>Starts <paramref name="count"/> shell busy loops; <see cref="StopAsync"/> ends them.</summary>
    public static List<Process> StartBurners(int count) =>
        [.. Enumerable.Range(0, count).Select(_ => Process.Start(new ProcessStartInfo("sh") { ArgumentList = { "-c", "while :; do :; done" } })!)];

    public static async Task StopAsync(List<Process> burners)
    {
        foreach (var p in burners)
        {
            p.Kill();
            await p.WaitForExitAsync();
            p.Dispose();
        }
        burners.Clear();
    }
}
