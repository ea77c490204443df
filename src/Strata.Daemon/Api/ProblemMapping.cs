using System.Text.Json;
using System.Text.RegularExpressions;
using Strata.Contracts;

namespace Strata.Daemon.Api;

/// <summary>The one place where failures become HTTP responses (RFC 7807 problem details).</summary>
public static partial class ProblemMapping
{
    public static int Status(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => StatusCodes.Status400BadRequest,
        ErrorKind.Unauthorized => StatusCodes.Status401Unauthorized,
        ErrorKind.Forbidden => StatusCodes.Status403Forbidden,
        ErrorKind.NotFound => StatusCodes.Status404NotFound,
        ErrorKind.Conflict => StatusCodes.Status409Conflict,
        ErrorKind.Cancelled => 499,
        ErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status500InternalServerError,
    };

    public static string KindName(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => "invalid-argument",
        ErrorKind.Unauthorized => "unauthorized",
        ErrorKind.Forbidden => "forbidden",
        ErrorKind.NotFound => "not-found",
        ErrorKind.Conflict => "conflict",
        ErrorKind.Cancelled => "cancelled",
        ErrorKind.Unavailable => "unavailable",
        _ => "internal",
    };

    public static string Title(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => "Invalid request",
        ErrorKind.Unauthorized => "Authentication required",
        ErrorKind.Forbidden => "Forbidden",
        ErrorKind.NotFound => "Not found",
        ErrorKind.Conflict => "Conflict",
        ErrorKind.Cancelled => "Cancelled",
        ErrorKind.Unavailable => "Unavailable",
        _ => "Internal error",
    };

    /// <summary>Turns any exception into an expected-failure shape. Unknown exceptions are internal errors.</summary>
    public static StrataException Classify(Exception e) => e switch
    {
        StrataException s => s,
        JsonException j => FromJson(j),
        BadHttpRequestException b when b.StatusCode == StatusCodes.Status413PayloadTooLarge =>
            new StrataException(ErrorKind.InvalidArgument, "request body too large (limit 1 MiB)"),
        BadHttpRequestException { InnerException: JsonException j } => FromJson(j),
        BadHttpRequestException b => FromBinding(b),
        OperationCanceledException => new StrataException(ErrorKind.Cancelled, "the operation was cancelled"),
        _ => new StrataException(ErrorKind.Internal, $"internal error: {e.Message}", inner: e),
    };

    /// <summary>
    /// A query, route or header value the endpoint's parameter cannot take (<c>?timeout=99999999999</c> for an int).
    /// ASP.NET says <c>Failed to bind parameter "int? timeout" from "99999999999".</c> or <c>Required parameter
    /// "string image" was not provided from query string.</c>; the field is the parameter's name.
    /// </summary>
    private static StrataException FromBinding(BadHttpRequestException b)
    {
        var bind = BindFailure().Match(b.Message);
        if (bind.Success)
        {
            var type = bind.Groups["type"].Value.TrimEnd('?');
            var expected = type switch
            {
                "int" or "Int32" => $"a whole number from {int.MinValue} to {int.MaxValue}",
                "long" or "Int64" => "a whole number",
                "double" or "Double" or "float" or "Single" => "a number",
                "bool" or "Boolean" => "true or false",
                _ => $"a value of type {type}",
            };
            return StrataException.Invalid(bind.Groups["name"].Value, $"'{bind.Groups["value"].Value}' is not valid here; give {expected}");
        }
        var required = RequiredParameter().Match(b.Message);
        if (required.Success)
        {
            return StrataException.Invalid(required.Groups["name"].Value, "is required");
        }
        return new StrataException(ErrorKind.InvalidArgument, $"bad request: {b.Message}");
    }

    [GeneratedRegex("^Failed to bind parameter \"(?<type>[^ \"]+) (?<name>[^\"]+)\" from \"(?<value>.*)\"\\.?$", RegexOptions.Singleline)]
    private static partial Regex BindFailure();

    [GeneratedRegex("^Required parameter \"(?<type>[^ \"]+) (?<name>[^\"]+)\" was not provided")]
    private static partial Regex RequiredParameter();

    /// <summary>
    /// System.Text.Json says "The JSON property 'x' could not be mapped ..." with a JSON path; turn it into
    /// "x: unknown field" so the client learns which field to fix.
    /// </summary>
    private static StrataException FromJson(JsonException j)
    {
        var path = (j.Path ?? "$").TrimStart('$').TrimStart('.');
        var message = j.Message;
        const string marker = "The JSON property '";
        var at = message.IndexOf(marker, StringComparison.Ordinal);
        if (at >= 0)
        {
            var end = message.IndexOf('\'', at + marker.Length);
            var property = message[(at + marker.Length)..end];
            var parent = path.Contains('.') ? path[..path.LastIndexOf('.')] : "";
            var field = string.IsNullOrEmpty(parent) || parent == property ? property : $"{parent}.{property}";
            if (path.EndsWith(property, StringComparison.Ordinal))
            {
                field = path;
            }
            return StrataException.Invalid(field, "unknown field; check the spelling against the API reference (docs/api.md)");
        }
        if (message.Contains("missing required properties", StringComparison.Ordinal))
        {
            return new StrataException(ErrorKind.InvalidArgument, $"{(path.Length == 0 ? "body" : path)}: {message.Split(" Path:")[0]}", path);
        }
        var name = path.Length == 0 ? "body" : path;
        return StrataException.Invalid(name, $"invalid JSON value ({message.Split(" Path:")[0].TrimEnd('.')})");
    }

    public static ProblemDetails ToProblem(StrataException e, string? instance = null) => new()
    {
        Type = $"https://strata.dev/problems/{KindName(e.Kind)}",
        Title = Title(e.Kind),
        Status = Status(e.Kind),
        Detail = e.Message,
        Field = e.Field,
        Kind = KindName(e.Kind),
    };

    public static async Task WriteAsync(HttpContext context, StrataException e)
    {
        if (context.Response.HasStarted)
        {
            return;
        }
        context.Response.Clear();
        context.Response.StatusCode = Status(e.Kind);
        context.Response.ContentType = "application/problem+json";
        await JsonSerializer.SerializeAsync(context.Response.Body, ToProblem(e), StrataJsonContext.Default.ProblemDetails, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>Middleware: catches every failure of a request and maps it here.</summary>
    public static async Task Middleware(HttpContext context, RequestDelegate next)
    {
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nothing to answer.
        }
        catch (Exception e)
        {
            var problem = Classify(e);
            if (problem.Kind == ErrorKind.Internal)
            {
                context.RequestServices.GetRequiredService<ILogger<DaemonHost>>().LogError(e, "request {Method} {Path} failed", context.Request.Method, context.Request.Path);
            }
            await WriteAsync(context, problem).ConfigureAwait(false);
        }
    }
}
