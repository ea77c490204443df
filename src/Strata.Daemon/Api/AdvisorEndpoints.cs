using System.Text.Json;
using Strata.Contracts;
using Strata.Control;
using Strata.Daemon.Advice;
using Strata.Policy.Advisor;
using Strata.Policy.Workloads;

namespace Strata.Daemon.Api;

/// <summary><c>/v1/advise</c> (which tier, and why) and <c>/v1/apply</c> (create a workload file's workloads on their tiers).</summary>
public static class AdvisorEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/advise", AdviseAsync)
            .WithTags("advisor").Accepts<AdviseRequest>("application/json").Produces<AdviseResponse>()
            .WithSummary("Advise a tier for every workload of a workload file (YAML or JSON text in 'file'), or for one 'spec'. A workload no tier fits carries its problem; a file that does not parse is a 400 listing every error with its line.");

        app.MapPost("/v1/apply", ApplyAsync)
            .WithTags("advisor").Accepts<ApplyRequest>("application/json").Produces<ApplyResponse>()
            .WithSummary("Create every workload of a workload file on its advised (or named) tier; an existing instance of the same name is left alone when its spec is identical, else replaced. Every workload is validated and advised before anything is created.");
    }

    private static async Task AdviseAsync(HttpContext http, HostAdvisor advisor)
    {
        var request = await ReadAsync(http, StrataJsonContext.Default.AdviseRequest);
        var project = InstanceEndpoints.Project(http);
        List<AdviseItem> items;
        if (request.File is not null && request.Spec is not null)
        {
            throw StrataException.Invalid("body", "give either 'file' (a workload file's text) or 'spec', not both");
        }
        if (request.Spec is { } spec)
        {
            var normalized = SpecValidator.Normalize(spec);
            items = [advisor.Advise(normalized.Name ?? "(unnamed)", project, normalized)];
        }
        else if (request.File is { } file)
        {
            items = [.. Parse(file, request.FileName).Select(w => advisor.Advise(w.Name, WorkloadProject(http, w.Project, project), SpecValidator.Normalize(ToSpec(w))))];
        }
        else
        {
            throw StrataException.Invalid("body", "expected 'file' (the text of a workload file, YAML or JSON) or 'spec' (an instance spec)");
        }
        await WriteAsync(http, new AdviseResponse(items), StrataJsonContext.Default.AdviseResponse);
    }

    /// <summary>A workload file may name projects; a project token may only name its own.</summary>
    private static string WorkloadProject(HttpContext http, string? named, string callerProject)
    {
        if (named is null || named == callerProject)
        {
            return callerProject;
        }
        var caller = Caller.Of(http);
        if (!caller.IsHostAdmin)
        {
            throw new StrataException(ErrorKind.Forbidden,
                $"the workload file names project '{named}', but this token acts only in project '{caller.Project}'; remove the 'project:' line or use that project's token");
        }
        return named;
    }

    private static async Task ApplyAsync(HttpContext http, HostAdvisor advisor, InstanceService service)
    {
        var request = await ReadAsync(http, StrataJsonContext.Default.ApplyRequest);
        var defaultProject = InstanceEndpoints.Project(http);
        var workloads = Parse(request.File, request.FileName);

        // Validate and advise every workload before creating any, so a bad workload late in the file
        // does not leave the first half applied.
        var plans = new List<(WorkloadDefinition Workload, string Project, InstanceSpec Spec, AdviseItem Advice)>();
        foreach (var workload in workloads)
        {
            var project = WorkloadProject(http, workload.Project, defaultProject);
            var spec = SpecValidator.Normalize(ToSpec(workload));
            plans.Add((workload, project, spec, advisor.Advise(workload.Name, project, spec)));
        }
        var failed = plans.Where(p => p.Advice.Problem is not null).ToList();
        if (failed.Count > 0)
        {
            var first = failed[0].Advice.Problem!;
            var kind = first.Status switch { 403 => ErrorKind.Forbidden, 503 => ErrorKind.Unavailable, _ => ErrorKind.InvalidArgument };
            throw new StrataException(kind,
                $"nothing was applied: {failed.Count} of {plans.Count} workloads cannot be placed: " +
                string.Join("; ", failed.Select(f => $"{f.Workload.Name} (line {f.Workload.Line}): {f.Advice.Problem!.Detail}")),
                first.Field);
        }

        var items = new List<ApplyItem>();
        var complete = true;
        foreach (var (workload, project, spec, advice) in plans)
        {
            var item = new ApplyItem { Name = workload.Name, Project = project, Tier = advice.Tier, Action = "skipped", Reasons = advice.Reasons };
            if (!complete)
            {
                items.Add(item);
                continue;
            }
            try
            {
                var existing = service.List(project).FirstOrDefault(r => r.Name == workload.Name);
                var desired = spec with { Name = workload.Name, Tier = advice.Tier };
                if (existing is not null && SameSpec(existing.Spec, desired))
                {
                    items.Add(item with { Tier = existing.Tier.ToName(), Action = "unchanged", Reasons = existing.Placement?.Reasons ?? advice.Reasons });
                    continue;
                }
                if (existing is not null)
                {
                    await service.DeleteAsync(project, workload.Name, force: true, http.RequestAborted);
                }
                // Created as requested (tier auto stays auto), so the stored placement is the advisor's own record.
                var created = await service.CreateAsync(spec with { Name = workload.Name }, start: true, project, http.RequestAborted);
                items.Add(item with { Tier = created.Tier.ToName(), Action = existing is null ? "created" : "replaced", Reasons = created.Placement?.Reasons ?? advice.Reasons });
            }
            catch (Exception e) when (e is not OperationCanceledException || !http.RequestAborted.IsCancellationRequested)
            {
                complete = false;
                items.Add(item with { Action = "failed", Problem = ProblemMapping.ToProblem(ProblemMapping.Classify(e)) });
            }
        }
        await WriteAsync(http, new ApplyResponse(complete, items), StrataJsonContext.Default.ApplyResponse);
    }

    /// <summary>The API request for a workload of a file: its tier (null for auto) and requirements included.</summary>
    public static InstanceSpec ToSpec(WorkloadDefinition workload) =>
        (workload.Tier is { } tier ? workload.ToInstanceSpec(tier) : workload.ToInstanceSpec(Tier.Process) with { Tier = null })
        with { Requirements = ContractMapping.ToContract(workload.Requirements) };

    private static bool SameSpec(InstanceSpec a, InstanceSpec b) =>
        JsonSerializer.Serialize(a, StrataJsonContext.Default.InstanceSpec) == JsonSerializer.Serialize(b, StrataJsonContext.Default.InstanceSpec);

    private static IReadOnlyList<WorkloadDefinition> Parse(string text, string? fileName) =>
        WorkloadFile.Parse(text, string.IsNullOrWhiteSpace(fileName) ? "workload file" : fileName).GetOrThrow();

    private static async Task<T> ReadAsync<T>(HttpContext http, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) where T : class
    {
        if (http.Request.ContentType is { } contentType && !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            throw new StrataException(ErrorKind.InvalidArgument, $"expected a JSON body (Content-Type: application/json), got '{contentType}'");
        }
        return await JsonSerializer.DeserializeAsync(http.Request.Body, type, http.RequestAborted)
            ?? throw new StrataException(ErrorKind.InvalidArgument, "body: expected a JSON object");
    }

    private static async Task WriteAsync<T>(HttpContext http, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        http.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(http.Response.Body, value, type, http.RequestAborted);
    }
}
