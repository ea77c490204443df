using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Control;
using Strata.Store;
using static Strata.Daemon.DockerApi.DockerApiHost;

namespace Strata.Daemon.DockerApi;

/// <summary>
/// <c>docker cp</c>: stat (HEAD), copy out (GET, a tar) and copy in (PUT, a tar) of a running container. The
/// work is done inside the container, by its own <c>stat</c> and <c>tar</c>, so the container's symlinks are
/// resolved in the container and can never point the daemon at the host's files.
/// </summary>
internal static class DockerArchiveEndpoints
{
    private const string StatHeader = "X-Docker-Container-Path-Stat";

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapMethods("/containers/{id}/archive", ["HEAD"], async (string id, HttpContext http, InstanceService service) =>
        {
            var (record, path) = Target(http, service, id);
            http.Response.Headers[StatHeader] = await StatAsync(service, record, path, http.RequestAborted);
            return Results.Ok();
        });
        app.MapGet("/containers/{id}/archive", async (string id, HttpContext http, InstanceService service) =>
        {
            var (record, path) = Target(http, service, id);
            http.Response.Headers[StatHeader] = await StatAsync(service, record, path, http.RequestAborted);
            var trimmed = path.Length > 1 ? path.TrimEnd('/') : path;
            var parent = Path.GetDirectoryName(trimmed) ?? "/";
            var name = Path.GetFileName(trimmed) is { Length: > 0 } n ? n : ".";
            http.Response.ContentType = "application/x-tar";
            var errors = new StringBuilder();
            var code = await service.ExecAsync(record.Project, record.Name, new ExecRequest { Command = ["tar", "-cf", "-", "-C", parent, name] }, async (stream, bytes) =>
            {
                if (stream == "stderr")
                {
                    errors.Append(Encoding.UTF8.GetString(bytes.Span));
                    return;
                }
                await http.Response.Body.WriteAsync(bytes, http.RequestAborted);
            }, http.RequestAborted);
            if (code != 0 && !http.Response.HasStarted)
            {
                throw new StrataException(ErrorKind.Internal, $"copying {path} out of the container failed (its tar exited {code}): {errors.ToString().Trim()}");
            }
        });
        app.MapPut("/containers/{id}/archive", async (string id, HttpContext http, InstanceService service) =>
        {
            var (record, path) = Target(http, service, id);
            var stat = JsonDocument.Parse(Convert.FromBase64String(await StatAsync(service, record, path, http.RequestAborted)));
            if ((stat.RootElement.GetProperty("mode").GetUInt32() & DirectoryBit) == 0)
            {
                throw StrataException.Invalid("path", $"extraction point is not a directory: {path}");
            }
            if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = null; // an archive is as large as the files copied
            }
            await using var session = await service.StartExecAsync(record.Project, record.Name, new ExecRequest { Command = ["tar", "-xf", "-", "-C", path] }, 0, 0, http.RequestAborted);
            var errors = new MemoryStream();
            var drain = Task.WhenAll(session.Output.CopyToAsync(Stream.Null, http.RequestAborted),
                session.Error?.CopyToAsync(errors, http.RequestAborted) ?? Task.CompletedTask);
            await http.Request.Body.CopyToAsync(session.Input, http.RequestAborted);
            await session.Input.FlushAsync(http.RequestAborted);
            await session.CloseInputAsync(http.RequestAborted);
            var code = await session.Exited.WaitAsync(http.RequestAborted);
            await drain.WaitAsync(TimeSpan.FromSeconds(5), http.RequestAborted);
            if (code != 0)
            {
                throw StrataException.Invalid("body", $"extracting the archive into {path} failed (the container's tar exited {code}): {Encoding.UTF8.GetString(errors.ToArray()).Trim()}");
            }
            return Results.Ok();
        });
    }

    private const uint DirectoryBit = 1u << 31;
    private const uint SymlinkBit = 1u << 27;

    private static (InstanceRecord Record, string Path) Target(HttpContext http, InstanceService service, string id)
    {
        var record = DockerContainers.Resolve(service, Project(http), id);
        var path = http.Request.Query["path"].ToString();
        if (!path.StartsWith('/'))
        {
            throw StrataException.Invalid("path", $"'{path}' is not an absolute path in the container");
        }
        if (!record.State.IsActive())
        {
            throw StrataException.Conflict($"container {record.Name} is not running: Strata copies files of running containers only; start it first");
        }
        return (record, path);
    }

    /// <summary>Docker's path stat (name, size, Go file mode, mtime, link target), base64 JSON, from the container's stat.</summary>
    private static async Task<string> StatAsync(InstanceService service, InstanceRecord record, string path, CancellationToken ct)
    {
        var output = new StringBuilder();
        var code = await service.ExecAsync(record.Project, record.Name, new ExecRequest { Command = ["stat", "-c", "%s %f %Y %N", path] }, (stream, bytes) =>
        {
            if (stream != "stderr")
            {
                output.Append(Encoding.UTF8.GetString(bytes.Span));
            }
            return ValueTask.CompletedTask;
        }, ct);
        var parts = output.ToString().Trim().Split(' ', 4);
        if (code != 0 || parts.Length < 3)
        {
            throw StrataException.NotFound($"Could not find the file {path} in container {record.Name}");
        }
        var raw = uint.Parse(parts[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        var mode = raw & 0x1ff;
        var type = raw & 0xf000;
        if (type == 0x4000)
        {
            mode |= DirectoryBit;
        }
        else if (type == 0xa000)
        {
            mode |= SymlinkBit;
        }
        var link = parts.Length == 4 && parts[3].Contains(" -> ", StringComparison.Ordinal) ? parts[3][(parts[3].IndexOf(" -> ", StringComparison.Ordinal) + 4)..].Trim('\'', '"', '`') : "";
        var trimmed = path.Length > 1 ? path.TrimEnd('/') : path;
        using var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            writer.WriteString("name", Path.GetFileName(trimmed) is { Length: > 0 } n ? n : "/");
            writer.WriteNumber("size", long.Parse(parts[0], CultureInfo.InvariantCulture));
            writer.WriteNumber("mode", mode);
            writer.WriteString("mtime", DateTimeOffset.FromUnixTimeSeconds(long.Parse(parts[2], CultureInfo.InvariantCulture)).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
            writer.WriteString("linkTarget", link);
            writer.WriteEndObject();
        }
        return Convert.ToBase64String(json.ToArray());
    }
}
