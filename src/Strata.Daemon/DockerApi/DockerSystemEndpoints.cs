using System.Globalization;
using System.Text.Json;
using Strata.Contracts;
using Strata.Control;
using Strata.Daemon.Api;
using static Strata.Daemon.DockerApi.DockerApiHost;

namespace Strata.Daemon.DockerApi;

/// <summary><c>_ping</c>, <c>version</c>, <c>info</c>, <c>events</c>; <c>build</c> answers that it is not supported.</summary>
internal static class DockerSystemEndpoints
{
    public static readonly string StrataVersion = typeof(DockerSystemEndpoints).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapMethods("/_ping", ["GET", "HEAD"], (HttpContext http) =>
        {
            http.Response.Headers.CacheControl = "no-cache, no-store, must-revalidate";
            http.Response.Headers.Pragma = "no-cache";
            http.Response.Headers["Builder-Version"] = "";
            return Results.Text(http.Request.Method == "HEAD" ? "" : "OK", "text/plain; charset=utf-8");
        });
        app.MapGet("/version", () =>
        {
            var host = HostFacts.Read();
            return Json(new DockerVersion
            {
                Version = StrataVersion,
                ApiVersion = ApiVersion,
                MinAPIVersion = MinApiVersion,
                Arch = DockerArch(host.Arch),
                KernelVersion = host.Kernel,
                Components = [new DockerComponent("Strata", StrataVersion)],
            }, DockerJsonContext.Default.DockerVersion);
        });
        app.MapGet("/info", (HttpContext http, InstanceService service, DaemonOptions options, Strata.Images.ImageStore images) =>
        {
            var host = HostFacts.Read();
            var items = service.List(Project(http));
            var runtimes = new Dictionary<string, DockerRuntime>(StringComparer.Ordinal);
            foreach (var (runtime, tier) in DockerContainerSpec.Runtimes)
            {
                if (tier == "auto" || (TierNames.TryParse(tier, out var t) && service.Drivers.IsAvailable(t)))
                {
                    runtimes[runtime] = new DockerRuntime(runtime);
                }
            }
            return Json(new DockerInfo
            {
                ID = DockerContainers.IdOf(options.Root)[..36],
                Containers = items.Count,
                ContainersRunning = items.Count(r => r.State.IsActive()),
                ContainersStopped = items.Count(r => !r.State.IsActive()),
                Images = images.List().Count + options.Images.Count,
                DockerRootDir = options.Root,
                NCPU = host.Cpus,
                MemTotal = host.MemoryBytes,
                Name = Environment.MachineName,
                ServerVersion = StrataVersion,
                KernelVersion = host.Kernel,
                OperatingSystem = "Strata",
                Architecture = host.Arch,
                Runtimes = runtimes,
                Labels = [$"io.strata.project={Project(http)}"],
            }, DockerJsonContext.Default.DockerInfo);
        });
        app.MapGet("/events", EventsAsync);
        app.MapPost("/build", () => DockerContainerEndpoints.NotSupported("build"));
        app.MapPost("/session", () => DockerContainerEndpoints.NotSupported("build"));
    }

    private static string DockerArch(string arch) => arch switch
    {
        "x86_64" or "x64" => "amd64",
        "aarch64" => "arm64",
        var a => a,
    };

    private static string Action(string type) => type switch
    {
        "created" => "create",
        "started" => "start",
        "restarted" => "restart",
        "stopping" => "kill",
        "stopped" or "exited" or "failed" => "die",
        "deleted" => "destroy",
        "renamed" => "rename",
        var t => t,
    };

    private static async Task EventsAsync(HttpContext http, EventBus bus, InstanceService service)
    {
        var project = Project(http);
        var filters = DockerFilters.Parse(http.Request.Query["filters"]);
        var until = double.TryParse(http.Request.Query["until"], NumberStyles.Float, CultureInfo.InvariantCulture, out var u) ? DateTimeOffset.UnixEpoch.AddSeconds(u) : (DateTimeOffset?)null;
        using var subscription = bus.Subscribe();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        if (until is { } end)
        {
            stop.CancelAfter(end - DateTimeOffset.UtcNow is { Ticks: > 0 } left ? left : TimeSpan.Zero);
        }
        http.Response.ContentType = "application/json";
        await http.Response.StartAsync(http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
        var ids = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            while (await subscription.Reader.WaitToReadAsync(stop.Token))
            {
                while (subscription.Reader.TryRead(out var e))
                {
                    if (e.Project != project)
                    {
                        continue;
                    }
                    var record = service.List(project).FirstOrDefault(r => r.Name == e.Instance);
                    if (record is not null)
                    {
                        ids[e.Instance] = DockerContainers.IdOf(record);
                    }
                    var id = ids.GetValueOrDefault(e.Instance, "");
                    var action = Action(e.Type);
                    var attributes = new Dictionary<string, string>(record?.Spec.Labels ?? new Dictionary<string, string>()) { ["name"] = e.Instance, ["image"] = record?.Spec.Image ?? "" };
                    if (e.ExitCode is { } code)
                    {
                        attributes["exitCode"] = code.ToString(CultureInfo.InvariantCulture);
                    }
                    if (!filters.Matches("type", t => t == "container") || !filters.Matches("event", a => a == action)
                        || !filters.Matches("container", c => c == e.Instance || id.StartsWith(c, StringComparison.Ordinal))
                        || !filters.MatchesAll("label", l => DockerFilters.LabelMatches(record?.Spec.Labels, l)))
                    {
                        continue;
                    }
                    var json = new DockerEvent
                    {
                        Type = "container",
                        Action = action,
                        Status = action,
                        Id = id,
                        From = record?.Spec.Image,
                        Actor = new DockerEventActor(id, attributes),
                        Time = e.Time.ToUnixTimeSeconds(),
                        TimeNano = (e.Time - DateTimeOffset.UnixEpoch).Ticks * 100,
                    };
                    await JsonSerializer.SerializeAsync(http.Response.Body, json, DockerJsonContext.Default.DockerEvent, stop.Token);
                    await http.Response.Body.WriteAsync("\n"u8.ToArray(), stop.Token);
                }
                await http.Response.Body.FlushAsync(stop.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
