using System.Diagnostics;
using System.Globalization;
using Strata.Client;
using Strata.Contracts;

namespace Strata.Bench.Api;

/// <summary>One stratad on a temporary root with the fake tier, its client, and its resident memory at each step.</summary>
internal sealed class BenchDaemon : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<(string Step, long Rss)> _rss = [];
    private bool _disposed;

    private BenchDaemon(Process process, string socket)
    {
        _process = process;
        Socket = socket;
        Client = new StrataClient(new ClientOptions { Socket = socket });
    }

    public StrataClient Client { get; }

    /// <summary>The daemon's unix socket (for the CLI).</summary>
    public string Socket { get; }

    public static BenchDaemon Start(string stratad, string work)
    {
        Directory.CreateDirectory(work);
        var socket = Path.Combine(work, "s.sock");
        var process = Process.Start(new ProcessStartInfo(stratad)
        {
            ArgumentList = { "--root", Path.Combine(work, "root"), "--socket", socket, "--enable-fake-tier" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        return new BenchDaemon(process, socket);
    }

    /// <summary>Waits for the daemon, warms it up, creates <paramref name="count"/> instances (created, not started) and lists them a few times.</summary>
    public async Task PopulateAsync(int count, int parallel, string listPath, MemoryStream body)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                await Client.InfoAsync();
                break;
            }
            catch (DaemonUnreachableException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }
        for (var i = 0; i < 20; i++)
        {
            body.SetLength(0);
            await Client.CopyRawAsync("v1/info", body);
            body.SetLength(0);
            await Client.CopyRawAsync(listPath, body);
        }
        Sample("empty");
        var created = Stopwatch.StartNew();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, parallel).Select(async _ =>
        {
            for (var i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next))
            {
                await Client.CreateAsync(new InstanceSpec { Name = "bench-" + i.ToString(CultureInfo.InvariantCulture), Tier = "fake", Args = ["sleep"] }, start: false);
            }
        }));
        Sample("created");
        Console.WriteLine($"created {count:N0} instances (fake tier, not started) in {created.Elapsed.TotalSeconds:0.0} s, {parallel} at a time");
        // Warm-up: the first lists pay for anything built lazily.
        for (var i = 0; i < 3; i++)
        {
            body.SetLength(0);
            await Client.CopyRawAsync(listPath, body);
        }
        Sample("listed");
    }

    /// <summary>Records the daemon's resident set now (VmRSS of /proc/PID/status).</summary>
    public void Sample(string step)
    {
        foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                _rss.Add((step, long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * 1024));
                return;
            }
        }
        throw new InvalidOperationException($"no VmRSS for process {_process.Id}");
    }

    public void PrintMemory(string label, int count)
    {
        var empty = _rss[0].Rss;
        var steps = _rss.Select(s => s.Step == "empty" ? $"empty {Mib(s.Rss)}"
            : $"{s.Step} {Mib(s.Rss)} (+{Mib(s.Rss - empty)}, {Mib((s.Rss - empty) * 1000 / Math.Max(1, count))} per 1,000)");
        Console.WriteLine($"  {label}: " + string.Join("; ", steps));
    }

    private static string Mib(long bytes) => (bytes / 1048576.0).ToString("0.0", CultureInfo.InvariantCulture) + " MiB";

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        Client.Dispose();
        _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
