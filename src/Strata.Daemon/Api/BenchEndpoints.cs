using Strata.Contracts;
using Strata.Contracts.Host;
using Strata.Daemon.Advice;

namespace Strata.Daemon.Api;

/// <summary>
/// <c>/v1/bench/results</c>: where <c>strata bench</c> leaves this host's measured numbers, stored as
/// <c>&lt;root&gt;/bench/results.json</c> (the file <see cref="HostCosts"/> reads for the advisor). The daemon keeps the
/// document as sent, after checking that it is a JSON object whose <c>tiers</c> the advisor can read.
/// </summary>
public static class BenchEndpoints
{
    /// <summary>A report is a few kilobytes; anything far larger is not one.</summary>
    private const int MaxBytes = 4 * 1024 * 1024;

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPut("/v1/bench/results", SaveAsync)
            .WithTags("bench").Accepts<object>("application/json")
            .WithSummary("Store a strata bench report as this host's measured numbers; 'tiers.<tier>.startMedianMs' is what the advisor quotes.");

        app.MapGet("/v1/bench/results", (DaemonOptions options) =>
        {
            var path = Path.Combine(options.Root, HostCosts.RelativePath);
            return File.Exists(path)
                ? Results.Text(File.ReadAllText(path), "application/json")
                : throw new StrataException(ErrorKind.NotFound, "no benchmark results on this host yet; run 'strata bench' (or 'strata bench --quick')");
        }).WithTags("bench").WithSummary("The last stored strata bench report.");
    }

    private static async Task<IResult> SaveAsync(HttpContext http, DaemonOptions options)
    {
        using var reader = new StreamReader(http.Request.Body);
        var buffer = new char[MaxBytes + 1];
        var read = await reader.ReadBlockAsync(buffer.AsMemory(), http.RequestAborted);
        if (read > MaxBytes)
        {
            throw StrataException.Invalid("body", $"a bench report is at most {MaxBytes / (1024 * 1024)} MiB");
        }
        var text = new string(buffer, 0, read);
        var costs = HostCosts.Parse(text, out var problem);
        if (problem is not null)
        {
            throw StrataException.Invalid("body", problem.Replace(HostCosts.RelativePath + ": ", "", StringComparison.Ordinal));
        }
        var path = Path.Combine(options.Root, HostCosts.RelativePath);
        PrivatePaths.CreateDirectory(Path.GetDirectoryName(path)!);
        // Written beside and renamed, so the advisor never reads half a file.
        var temp = path + ".tmp";
        File.Delete(temp); // a leftover would keep its mode: the file is made anew as 0600
        await PrivatePaths.WriteAllTextAsync(temp, text, http.RequestAborted);
        File.Move(temp, path, overwrite: true);
        return Results.Text($"{{\"stored\":\"{HostCosts.RelativePath}\",\"tiers\":{costs.Count}}}", "application/json");
    }
}
