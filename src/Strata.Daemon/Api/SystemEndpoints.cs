using System.Text;
using System.Text.Json;
using Strata.Contracts;
using Strata.Control;

namespace Strata.Daemon.Api;

/// <summary><c>/v1/info</c>, <c>/v1/events</c>, <c>/v1/daemon/stop</c> and <c>/metrics</c>.</summary>
public static class SystemEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/info", (HttpContext http, InstanceService service, DaemonOptions options) =>
        {
            var info = Info(service, options);
            var caller = Caller.Of(http);
            // A project token learns nothing about other projects, not even how many instances they have.
            return Results.Json(caller.IsHostAdmin ? info : info with { Instances = service.List(caller.Project).Count }, StrataJsonContext.Default.DaemonInfo);
        })
            .WithTags("system").Produces<DaemonInfo>().WithSummary("Version, store, host, and which tiers are available here (and why not).");

        app.MapGet("/v1/events", EventsAsync)
            .WithTags("system").Produces<InstanceEvent>(contentType: "text/event-stream")
            .WithSummary("Server-sent events: one 'data:' line of InstanceEvent JSON per lifecycle change.");

        app.MapPost("/v1/daemon/stop", async (bool? all, int? timeout, InstanceService service, IHostApplicationLifetime lifetime, HttpContext http) =>
        {
            if (all == true)
            {
                await service.StopAllAsync(TimeSpan.FromSeconds(Math.Clamp(timeout ?? 10, 0, 3600)), http.RequestAborted);
            }
            lifetime.StopApplication();
            return Results.Accepted();
        }).WithTags("system").WithSummary("Shut the daemon down; ?all=true stops every instance first (otherwise they keep running).");

        app.MapGet("/metrics", (HttpContext http, InstanceService service, RequestMetrics metrics, Strata.Control.Usage.UsageSampler sampler) =>
        {
            // A project token sees its own project's instances only, and nothing host-wide (request latency).
            var caller = Caller.Of(http);
            var project = caller.IsHostAdmin ? null : InstanceEndpoints.Project(http);
            var sb = new StringBuilder(metrics.Render(service, project));
            sampler.RenderMetrics(sb, project);
            return Results.Text(sb.ToString(), "text/plain; version=0.0.4");
        })
            .WithTags("system").WithSummary("Prometheus text format: instances by tier and state, request latency histogram, per-instance CPU, memory, limit and OOM kills.");
    }

    public static DaemonInfo Info(InstanceService service, DaemonOptions options)
    {
        var tiers = new List<TierAvailability>();
        foreach (var tier in TierNames.UserTiers.Append(Tier.Fake))
        {
            if (tier == Tier.Fake && !options.EnableFakeTier)
            {
                continue;
            }
            var f = service.Drivers.Fingerprint(tier);
            tiers.Add(new TierAvailability(tier.ToName(), service.Drivers.IsAvailable(tier), f.Reason, f.Engine));
        }
        return new DaemonInfo
        {
            Version = typeof(SystemEndpoints).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
            Root = options.Root,
            Store = service.StoreDescription,
            Tiers = tiers,
            Host = HostFacts.Read(),
            Instances = service.List().Count,
        };
    }

    private static async Task EventsAsync(HttpContext http, EventBus bus)
    {
        var caller = Caller.Of(http);
        // Host administrators see every project's events; a project token only its own project's, numbered by a
        // sequence of the subscription's own (a global one would count other projects' events in its gaps).
        using var subscription = bus.Subscribe(caller.IsHostAdmin ? null : caller.Project);
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        await http.Response.WriteAsync(": strata events\n\n", http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
        var ct = http.RequestAborted;
        try
        {
            while (await subscription.Reader.WaitToReadAsync(ct))
            {
                while (subscription.Reader.TryRead(out var e))
                {
                    var json = JsonSerializer.Serialize(e, StrataJsonContext.Default.InstanceEvent);
                    await http.Response.WriteAsync($"id: {e.Sequence}\nevent: {e.Type}\ndata: {json}\n\n", ct);
                }
                await http.Response.Body.FlushAsync(ct);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}

/// <summary>Facts about this host for <c>info</c> and benchmark reports.</summary>
public static class HostFacts
{
    public static HostInfo Read()
    {
        var kernel = TryRead("/proc/sys/kernel/osrelease") ?? Environment.OSVersion.VersionString;
        var host = Strata.Control.HostCapacity.Current;
        var memory = host.MemoryBytes == long.MaxValue ? 0 : host.MemoryBytes;
        var cgroups = File.Exists("/sys/fs/cgroup/cgroup.controllers") ? "v2"
            : Directory.Exists("/sys/fs/cgroup/unified") ? "hybrid (v1 + v2 mount)"
            : Directory.Exists("/sys/fs/cgroup/memory") ? "v1" : "none";
        if (Strata.Node.Cgroups.CgroupFavorDynMods.IsEnabled())
        {
            cgroups += ", favordynmods";
        }
        return new HostInfo("linux", kernel.Trim(), System.Runtime.InteropServices.RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant() switch
        {
            "x64" => "amd64",
            "arm64" => "arm64",
            var other => other,
        }, host.Cpus, memory, cgroups);
    }

    private static string? TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>Request latency histogram and instance gauges, rendered in Prometheus text format.</summary>
public sealed class RequestMetrics
{
    private static readonly double[] Buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    private readonly long[] _counts = new long[Buckets.Length + 1];
    private long _total;
    private long _sumMicros;

    public void Observe(TimeSpan elapsed)
    {
        var seconds = elapsed.TotalSeconds;
        var i = 0;
        while (i < Buckets.Length && seconds > Buckets[i])
        {
            i++;
        }
        Interlocked.Increment(ref _counts[i]);
        Interlocked.Increment(ref _total);
        Interlocked.Add(ref _sumMicros, (long)(seconds * 1_000_000));
    }

    public async Task Middleware(HttpContext context, RequestDelegate next)
    {
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            Observe(System.Diagnostics.Stopwatch.GetElapsedTime(start));
        }
    }

    /// <summary>The instance gauges of <paramref name="project"/> (null: every project, with the request latency histogram too).</summary>
    public string Render(InstanceService service, string? project = null)
    {
        var sb = new StringBuilder();
        sb.Append("# HELP strata_instances Instances by tier and state.\n# TYPE strata_instances gauge\n");
        var counts = service.List(project).GroupBy(r => (r.Tier, r.State)).ToDictionary(g => g.Key, g => g.Count());
        foreach (var tier in TierNames.UserTiers)
        {
            foreach (var state in Enum.GetValues<InstanceState>())
            {
                if (state == InstanceState.Deleted)
                {
                    continue;
                }
                counts.TryGetValue((tier, state), out var n);
                sb.Append("strata_instances{tier=\"").Append(tier.ToName()).Append("\",state=\"").Append(state.ToName()).Append("\"} ").Append(n).Append('\n');
            }
        }
        if (project is not null)
        {
            return sb.ToString();
        }
        sb.Append("# HELP strata_http_request_duration_seconds API request latency.\n# TYPE strata_http_request_duration_seconds histogram\n");
        long cumulative = 0;
        for (var i = 0; i < Buckets.Length; i++)
        {
            cumulative += Interlocked.Read(ref _counts[i]);
            sb.Append("strata_http_request_duration_seconds_bucket{le=\"").Append(Buckets[i].ToString(System.Globalization.CultureInfo.InvariantCulture)).Append("\"} ").Append(cumulative).Append('\n');
        }
        var total = Interlocked.Read(ref _total);
        sb.Append("strata_http_request_duration_seconds_bucket{le=\"+Inf\"} ").Append(total).Append('\n');
        sb.Append("strata_http_request_duration_seconds_sum ").Append((Interlocked.Read(ref _sumMicros) / 1e6).ToString(System.Globalization.CultureInfo.InvariantCulture)).Append('\n');
        sb.Append("strata_http_request_duration_seconds_count ").Append(total).Append('\n');
        return sb.ToString();
    }
}
