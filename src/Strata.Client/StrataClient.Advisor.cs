using Strata.Contracts;

namespace Strata.Client;

/// <summary>The tier advisor (<c>/v1/advise</c>) and workload files (<c>/v1/apply</c>).</summary>
public sealed partial class StrataClient
{
    /// <summary>Which tier every workload of a workload file (YAML or JSON text) would get here, and why.</summary>
    public Task<AdviseResponse> AdviseFileAsync(string text, string? fileName = null, CancellationToken ct = default) =>
        AdviseAsync(new AdviseRequest { File = text, FileName = fileName }, ct);

    /// <summary>Which tier one spec would get here, and why.</summary>
    public Task<AdviseResponse> AdviseSpecAsync(InstanceSpec spec, CancellationToken ct = default) =>
        AdviseAsync(new AdviseRequest { Spec = spec }, ct);

    public Task<AdviseResponse> AdviseAsync(AdviseRequest request, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, Q("v1/advise"), JsonBody(request, StrataJsonContext.Default.AdviseRequest), StrataJsonContext.Default.AdviseResponse, ct);

    /// <summary>Creates (or leaves, or replaces) every workload of a workload file on its tier.</summary>
    public Task<ApplyResponse> ApplyAsync(string text, string? fileName = null, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, Q("v1/apply"), JsonBody(new ApplyRequest { File = text, FileName = fileName }, StrataJsonContext.Default.ApplyRequest),
            StrataJsonContext.Default.ApplyResponse, ct);
}
