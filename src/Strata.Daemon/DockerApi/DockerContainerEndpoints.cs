using System.Globalization;
using System.Text.Json;
using Strata.Contracts;
using Strata.Control;
using Strata.Node.Networking;
using Strata.Store;
using static Strata.Daemon.DockerApi.DockerApiHost;

namespace Strata.Daemon.DockerApi;

/// <summary>Container lifecycle: create, list, inspect, start, stop, kill, restart, wait, remove, top, stats.</summary>
internal static class DockerContainerEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/containers/create", CreateAsync);
        app.MapGet("/containers/json", List);
        app.MapGet("/containers/{id}/json", (string id, HttpContext http, InstanceService service, NetworkRegistry networks, Strata.Images.ImageStore images, DockerVolumes volumes, DockerNetworkNames names) =>
            Json(DockerContainers.Inspect(DockerContainers.Resolve(service, Project(http), id), networks, images, volumes.Root, names), DockerJsonContext.Default.DockerContainerInspect));
        app.MapPost("/containers/{id}/start", async (string id, HttpContext http, InstanceService service, DockerRunTraces traces) =>
        {
            var r = DockerContainers.Resolve(service, Project(http), id);
            traces.Join(DockerContainers.IdOf(r), "start request");
            if (r.State.IsActive())
            {
                return Results.StatusCode(StatusCodes.Status304NotModified);
            }
            await service.StartAsync(r.Project, r.Name, http.RequestAborted);
            RunTimeline.Mark("start answered");
            return Results.NoContent();
        });
        app.MapPost("/containers/{id}/stop", async (string id, HttpContext http, InstanceService service) =>
        {
            var r = DockerContainers.Resolve(service, Project(http), id);
            if (!r.State.IsActive())
            {
                return Results.StatusCode(StatusCodes.Status304NotModified);
            }
            await service.StopAsync(r.Project, r.Name, Grace(http), http.RequestAborted);
            return Results.NoContent();
        });
        app.MapPost("/containers/{id}/kill", async (string id, HttpContext http, InstanceService service) =>
        {
            var r = DockerContainers.Resolve(service, Project(http), id);
            if (!r.State.IsActive())
            {
                throw StrataException.Conflict($"Cannot kill container: {id}: container {DockerContainers.IdOf(r)} is not running");
            }
            await service.KillAsync(r.Project, r.Name, Signals.Parse(http.Request.Query["signal"]), http.RequestAborted);
            return Results.NoContent();
        });
        app.MapPost("/containers/{id}/restart", async (string id, HttpContext http, InstanceService service) =>
        {
            var r = DockerContainers.Resolve(service, Project(http), id);
            if (r.State.IsActive())
            {
                await service.StopAsync(r.Project, r.Name, Grace(http), http.RequestAborted);
            }
            await service.StartAsync(r.Project, r.Name, http.RequestAborted);
            return Results.NoContent();
        });
        app.MapDelete("/containers/{id}", async (string id, HttpContext http, InstanceService service, DockerRunTraces traces) =>
        {
            var r = DockerContainers.Resolve(service, Project(http), id);
            traces.Join(DockerContainers.IdOf(r), "delete request");
            var force = Flag(http, "force");
            if (r.State.IsActive() && !force)
            {
                throw StrataException.Conflict($"cannot remove container \"/{r.Name}\": container is running: stop the container before removing or force remove");
            }
            await service.DeleteAsync(r.Project, r.Name, force, http.RequestAborted);
            return Results.NoContent();
        });
        app.MapPost("/containers/{id}/wait", WaitAsync);
        app.MapGet("/containers/{id}/top", async (string id, HttpContext http, InstanceService service) =>
        {
            var r = DockerContainers.Resolve(service, Project(http), id);
            var list = await service.TopAsync(r.Project, r.Name, http.RequestAborted);
            return Json(new DockerTop(["UID", "PID", "PPID", "STAT", "TIME", "CMD"],
                [.. list.Processes.Select(p => (IReadOnlyList<string>)[
                    p.Uid.ToString(CultureInfo.InvariantCulture), p.Pid.ToString(CultureInfo.InvariantCulture), p.ParentPid.ToString(CultureInfo.InvariantCulture),
                    p.State, TimeSpan.FromSeconds(p.CpuSeconds).ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture), p.Command])]),
                DockerJsonContext.Default.DockerTop);
        });
        app.MapGet("/containers/{id}/stats", StatsAsync);
        app.MapPost("/containers/{id}/resize", async (string id, HttpContext http, InstanceService service) =>
        {
            var record = DockerContainers.Resolve(service, Project(http), id);
            if (!record.Spec.Tty)
            {
                return Results.Ok(); // no terminal: nothing to resize (Docker answers the same)
            }
            var rows = Dimension(http, "h");
            var columns = Dimension(http, "w");
            await using var lease = service.Attach(record.Project, record.Name);
            await DockerStreamEndpoints.ResizeAsync(lease.Directory, columns, rows, http.RequestAborted);
            return Results.Ok();
        });
        app.MapPost("/containers/{id}/rename", RenameAsync);
        app.MapPost("/containers/{id}/update", UpdateAsync);
        foreach (var verb in new[] { "pause", "unpause", "commit", "export", "changes" })
        {
            app.Map($"/containers/{{id}}/{verb}", () => NotSupported(verb));
        }
        app.Map("/commit", () => NotSupported("commit"));
        app.MapPost("/containers/prune", () => NotSupported("container prune"));
    }

    internal static IResult NotSupported(string what) =>
        throw StrataException.Invalid(what, $"'{what}' is not supported by Strata's Docker API (docs/docker-api.md lists what is)");

    private static TimeSpan Grace(HttpContext http) =>
        TimeSpan.FromSeconds(int.TryParse(http.Request.Query["t"], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var t) ? Math.Clamp(t, 0, 3600) : 10);

    private static async Task CreateAsync(HttpContext http, InstanceService service, DockerVolumes volumes, NetworkRegistry networks, DockerNetworkNames names, DockerRunTraces traces)
    {
        var timeline = traces.BeginCreate();
        var project = Project(http);
        var body = await ReadJsonAsync(http) ?? throw StrataException.Invalid("body", "expected the container's configuration as a JSON object");
        if (http.Request.Query["platform"].ToString() is { Length: > 0 } platform && !platform.StartsWith("linux", StringComparison.Ordinal))
        {
            throw StrataException.Invalid("platform", $"'{platform}': Strata runs linux containers of this host's architecture");
        }
        var defaultNetwork = project == InstanceService.DefaultProject && networks.MissingReason() is null ? networks.DefaultNetwork : null;
        var parsed = DockerContainerSpec.Parse(body, http.Request.Query["name"], volumes, project, defaultNetwork, n => names.ToStrata(project, n));
        foreach (var volume in parsed.NewVolumes.Distinct())
        {
            volumes.Create(project, volume, null);
        }
        InstanceRecord record;
        try
        {
            record = await service.CreateAsync(parsed.Spec, start: false, project, http.RequestAborted);
        }
        catch (Exception e)
        {
            foreach (var volume in parsed.NewVolumes.Distinct())
            {
                volumes.Remove(project, volume, [], force: true); // made for this container only: nothing half-created
            }
            if (e is StrataException { Field: "image" } missing && missing.Message.Contains("pull", StringComparison.OrdinalIgnoreCase))
            {
                throw StrataException.NotFound($"No such image: {parsed.Spec.Image} ({missing.Message})");
            }
            throw;
        }
        http.Response.StatusCode = StatusCodes.Status201Created;
        await JsonSerializer.SerializeAsync(http.Response.Body, new DockerCreated(DockerContainers.IdOf(record), []), DockerJsonContext.Default.DockerCreated);
        RunTimeline.Mark("create answered");
        traces.Created(timeline, DockerContainers.IdOf(record));
    }

    private static IResult List(HttpContext http, InstanceService service, NetworkRegistry networks, Strata.Images.ImageStore images, DockerVolumes volumes, DockerNetworkNames names, TimeProvider time)
    {
        var all = Flag(http, "all");
        var filters = DockerFilters.Parse(http.Request.Query["filters"]);
        filters.Only("status", "name", "id", "label");
        var now = time.GetUtcNow();
        IEnumerable<InstanceRecord> items = service.List(Project(http)).Where(r => r.State != InstanceState.Deleted)
            .Where(r => all || r.State.IsActive() || filters.Has("status"))
            .Where(r => filters.Matches("status", s => DockerContainers.State(r) == s))
            .Where(r => filters.Matches("name", n => r.Name.Contains(n.TrimStart('/'), StringComparison.Ordinal)))
            .Where(r => filters.Matches("id", i => DockerContainers.IdOf(r).StartsWith(i, StringComparison.Ordinal)))
            .Where(r => filters.MatchesAll("label", l => DockerFilters.LabelMatches(r.Spec.Labels, l)))
            .OrderByDescending(r => r.CreatedAt);
        if (int.TryParse(http.Request.Query["limit"], NumberStyles.None, CultureInfo.InvariantCulture, out var limit) && limit > 0)
        {
            items = items.Take(limit);
        }
        return Json(items.Select(r => DockerContainers.Summary(r, networks, images, volumes.Root, names, now)).ToList(), DockerJsonContext.Default.ListDockerContainerSummary);
    }

    private static async Task WaitAsync(string id, HttpContext http, InstanceService service, EventBus events, DockerRunTraces traces)
    {
        var project = Project(http);
        var record = DockerContainers.Resolve(service, project, id);
        var traced = traces.Join(DockerContainers.IdOf(record), "wait request");
        var condition = http.Request.Query["condition"].ToString() is { Length: > 0 } c ? c : "not-running";
        if (condition is not ("not-running" or "next-exit" or "removed"))
        {
            throw StrataException.Invalid("condition", $"'{condition}' is not a wait condition; use not-running, next-exit or removed");
        }
        // The answer's head goes out now: the client knows the wait is in place before it starts the container.
        http.Response.ContentType = "application/json";
        await http.Response.StartAsync(http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
        RunTimeline.Mark("wait head sent");
        var ct = http.RequestAborted;
        var final = record;
        if (!(condition == "not-running" && !record.State.IsActive()))
        {
            if (condition != "not-running" && record.State.IsFinished())
            {
                // next-exit of a finished container: the exit after its next start.
                var started = record.StartedAt;
                while (Current(service, record) is { } now && now.State.IsFinished() && now.StartedAt == started)
                {
                    await Task.Delay(50, ct);
                }
            }
            if (Current(service, record) is not null)
            {
                try
                {
                    final = await service.WaitAsync(project, record.Name, ct);
                }
                catch (StrataException e) when (e.Kind == ErrorKind.NotFound)
                {
                }
            }
        }
        if (condition == "removed")
        {
            // Woken by the project's events (the instance's "deleted" comes once it has left the list; subscribed
            // before the check, so none is missed), re-checked each second in case a full queue dropped it.
            using var subscription = events.Subscribe(project);
            while (Current(service, record) is not null)
            {
                using var tick = CancellationTokenSource.CreateLinkedTokenSource(ct);
                tick.CancelAfter(TimeSpan.FromSeconds(1));
                try
                {
                    await subscription.Reader.WaitToReadAsync(tick.Token);
                    while (subscription.Reader.TryRead(out _))
                    {
                    }
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                }
            }
        }
        await JsonSerializer.SerializeAsync(http.Response.Body, new DockerWaitResponse(DockerContainers.ExitCode(final), null), DockerJsonContext.Default.DockerWaitResponse, ct);
        if (traced)
        {
            RunTimeline.Mark("wait answered");
            traces.Finish(DockerContainers.IdOf(record), record.Name, record.Spec.Network);
        }
    }

    /// <summary>
    /// <c>docker rename</c>: the instance takes the new name (Docker's <c>_</c> becomes <c>-</c>, as at create) and its
    /// networks' hosts files list it under that name; a running container keeps its hostname, as with Docker.
    /// </summary>
    /// <summary><c>docker update --memory --cpus</c>: Strata's live resize of the container (its cgroup limits in place, kept for later starts).</summary>
    private static async Task<IResult> UpdateAsync(string id, HttpContext http, InstanceService service)
    {
        var project = Project(http);
        var record = DockerContainers.Resolve(service, project, id);
        var body = await ReadJsonAsync(http) ?? throw StrataException.Invalid("body", "expected the update as a JSON object");
        var (memory, cpus) = DockerContainerSpec.ParseUpdate(body);
        await service.ResizeAsync(project, record.Name, memory, cpus, http.RequestAborted);
        return Results.Json(new DockerUpdated([]), DockerJsonContext.Default.DockerUpdated);
    }

    private static async Task<IResult> RenameAsync(string id, HttpContext http, InstanceService service, NetworkRegistry networks)
    {
        var r = DockerContainers.Resolve(service, Project(http), id);
        if (http.Request.Query["name"].ToString() is not { Length: > 0 } requested)
        {
            throw StrataException.Invalid("name", "give the new name (?name=NEW)");
        }
        var name = DockerContainerSpec.ToStrataName(requested);
        if (service.List(r.Project).Any(o => o.Name == name && o.Id != r.Id))
        {
            throw StrataException.Conflict($"Conflict. The container name \"/{requested}\" is already in use by container \"{DockerContainers.IdOf(service.Get(r.Project, name))}\". You have to remove (or rename) that container to be able to reuse that name.");
        }
        var renamed = await service.RenameAsync(r.Project, r.Name, name, http.RequestAborted);
        await networks.RenameMemberAsync(renamed.Id, renamed.Name, CancellationToken.None);
        return Results.NoContent();
    }

    private static InstanceRecord? Current(InstanceService service, InstanceRecord record) =>
        service.List(record.Project).FirstOrDefault(r => r.Id == record.Id && r.State != InstanceState.Deleted);

    private static async Task StatsAsync(string id, HttpContext http, InstanceService service, TimeProvider time)
    {
        var r = DockerContainers.Resolve(service, Project(http), id);
        var stream = !http.Request.Query.ContainsKey("stream") || Flag(http, "stream");
        var oneShot = Flag(http, "one-shot");
        http.Response.ContentType = "application/json";
        DockerCpuStats? previous = null;
        var previousTime = time.GetUtcNow();
        do
        {
            var s = await service.StatsAsync(r.Project, r.Name, http.RequestAborted);
            var now = time.GetUtcNow();
            var cpu = new DockerCpuStats
            {
                CpuUsage = new DockerCpuUsage { TotalUsage = s.CpuNanoseconds },
                SystemCpuUsage = (long)(Environment.TickCount64 * 1_000_000.0 * Environment.ProcessorCount),
                OnlineCpus = Environment.ProcessorCount,
            };
            var stats = new DockerStats
            {
                Read = DockerContainers.Time(now),
                PreRead = DockerContainers.Time(previous is null ? null : previousTime),
                Name = "/" + r.Name,
                Id = DockerContainers.IdOf(r),
                PidsStats = new DockerPidsStats { Current = s.Pids, Limit = s.PidsLimit },
                CpuStats = cpu,
                PreCpuStats = previous ?? (oneShot ? new DockerCpuStats { CpuUsage = new DockerCpuUsage() } : cpu with { CpuUsage = new DockerCpuUsage { TotalUsage = s.CpuNanoseconds - (long)(s.CpuPercent / 100 * s.SampleMilliseconds * 1e6) }, SystemCpuUsage = cpu.SystemCpuUsage - (long)(s.SampleMilliseconds * 1e6 * Environment.ProcessorCount) }),
                MemoryStats = new DockerMemoryStats { Usage = s.MemoryBytes, Limit = s.MemoryLimitBytes ?? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes },
            };
            await JsonSerializer.SerializeAsync(http.Response.Body, stats, DockerJsonContext.Default.DockerStats, http.RequestAborted);
            await http.Response.Body.WriteAsync("\n"u8.ToArray(), http.RequestAborted);
            await http.Response.Body.FlushAsync(http.RequestAborted);
            previous = cpu;
            previousTime = now;
            if (stream)
            {
                await Task.Delay(1000, http.RequestAborted);
            }
        }
        while (stream && DockerContainers.Resolve(service, r.Project, r.Name).State.IsActive());
    }
}
