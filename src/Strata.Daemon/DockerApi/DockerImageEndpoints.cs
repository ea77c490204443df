using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Strata.Contracts;
using Strata.Control;
using Strata.Images;
using Strata.Images.Registry;
using static Strata.Daemon.DockerApi.DockerApiHost;

namespace Strata.Daemon.DockerApi;

/// <summary>
/// Images: list, inspect, pull (<c>POST /images/create</c>, with Docker's progress stream), tag, remove. The store
/// is Strata's image store; names served from directories (<c>stratad --image NAME=DIR</c>) are listed too.
/// </summary>
internal static class DockerImageEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/images/json", (HttpContext http, ImageStore store, DaemonOptions options) =>
        {
            var filters = DockerFilters.Parse(http.Request.Query["filters"]);
            filters.Only("reference", "label", "dangling");
            var list = store.List().GroupBy(i => i.Id).Select(g => new DockerImageSummary
            {
                Id = g.Key.ToString(),
                RepoTags = [.. g.Select(i => i.Name)],
                RepoDigests = [.. g.Select(i => $"{Repository(i.Name)}@{i.ManifestDigest}").Distinct()],
                Created = g.Min(i => i.Added).ToUnixTimeSeconds(),
                Size = g.First().Size,
                VirtualSize = g.First().Size,
            }).Concat(options.Images.Keys.Select(name => new DockerImageSummary
            {
                Id = DirectoryImageId(name),
                RepoTags = [name.Contains(':', StringComparison.Ordinal) ? name : name + ":latest"],
                RepoDigests = [],
            }))
            .Where(i => filters.Matches("reference", r => i.RepoTags.Any(t => t == r || t.StartsWith(r + ":", StringComparison.Ordinal))))
            .Where(i => filters.Matches("dangling", d => d == "false"))
            .ToList();
            return Json(list, DockerJsonContext.Default.ListDockerImageSummary);
        });
        app.MapPost("/images/create", PullAsync);
        app.MapGet("/images/{**rest}", (string rest, HttpContext http, ImageStore store, DaemonOptions options) =>
            rest.EndsWith("/json", StringComparison.Ordinal)
                ? Json(Inspect(store, options, rest[..^"/json".Length]), DockerJsonContext.Default.DockerImageInspect)
                : DockerContainerEndpoints.NotSupported("images/" + rest));
        app.MapPost("/images/{**rest}", (string rest, HttpContext http, ImageStore store) =>
        {
            if (!rest.EndsWith("/tag", StringComparison.Ordinal))
            {
                return DockerContainerEndpoints.NotSupported(rest.EndsWith("/push", StringComparison.Ordinal) ? "push" : "images/" + rest);
            }
            var repo = http.Request.Query["repo"].ToString();
            if (repo.Length == 0)
            {
                throw StrataException.Invalid("repo", "give the new name (repo=NAME&tag=TAG)");
            }
            var tag = http.Request.Query["tag"].ToString() is { Length: > 0 } t ? t : "latest";
            store.Tag(rest[..^"/tag".Length], $"{repo}:{tag}");
            return Results.StatusCode(StatusCodes.Status201Created);
        });
        app.MapDelete("/images/{**name}", (string name, HttpContext http, ImageStore store, InstanceService service) =>
        {
            var inUse = service.List().Select(r => r.Spec.Image).Where(i => i is not null).ToHashSet(StringComparer.Ordinal);
            var removed = store.Remove(name, Flag(http, "force"), info => inUse.Contains(info.Name) || inUse.Contains(Repository(info.Name)));
            return Json(removed.Select(r => new DockerImageDeleted { Untagged = r }).ToList(), DockerJsonContext.Default.ListDockerImageDeleted);
        });
    }

    /// <summary>The image ID a container's image has now, or "" when it is not in the store.</summary>
    public static string ImageIdOf(ImageStore store, string? image)
    {
        if (image is null)
        {
            return "";
        }
        try
        {
            return store.Inspect(image).Image.Id.ToString();
        }
        catch (StrataException)
        {
            return DirectoryImageId(image);
        }
    }

    private static string DirectoryImageId(string name) =>
        "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("strata-directory-image:" + name)));

    private static string Repository(string name)
    {
        var colon = name.LastIndexOf(':');
        return colon > name.LastIndexOf('/') ? name[..colon] : name;
    }

    private static DockerImageInspect Inspect(ImageStore store, DaemonOptions options, string name)
    {
        ImageDetails details;
        try
        {
            details = store.Inspect(name);
        }
        catch (StrataException e) when (e.Kind is ErrorKind.NotFound or ErrorKind.InvalidArgument)
        {
            if (options.Images.ContainsKey(name) || options.Images.ContainsKey(Repository(name)))
            {
                return new DockerImageInspect
                {
                    Id = DirectoryImageId(name),
                    RepoTags = [name],
                    RepoDigests = [],
                    Created = DockerContainers.Time(null),
                    Os = "linux",
                    Architecture = System.Runtime.InteropServices.RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant(),
                    Config = new DockerImageConfig(),
                    RootFS = new DockerRootFs("layers", []),
                };
            }
            throw StrataException.NotFound($"No such image: {name}");
        }
        var config = details.Config;
        return new DockerImageInspect
        {
            Id = details.Image.Id.ToString(),
            RepoTags = details.Names,
            RepoDigests = [.. details.Names.Select(n => $"{Repository(n)}@{details.Image.ManifestDigest}").Distinct()],
            Created = details.Created ?? DockerContainers.Time(details.Image.Added),
            Os = details.Image.Os is { Length: > 0 } os ? os : "linux",
            Architecture = details.Image.Architecture,
            Size = details.Image.Size,
            VirtualSize = details.Image.Size,
            Config = config is null ? new DockerImageConfig() : new DockerImageConfig
            {
                Entrypoint = config.Entrypoint.Count > 0 ? config.Entrypoint : null,
                Cmd = config.Cmd.Count > 0 ? config.Cmd : null,
                Env = config.Env,
                WorkingDir = config.WorkingDir ?? "",
                User = config.User ?? "",
                ExposedPorts = config.ExposedPorts.Count > 0 ? config.ExposedPorts.ToDictionary(p => p, _ => JsonDocument.Parse("{}").RootElement.Clone()) : null,
                Labels = new Dictionary<string, string>(config.Labels),
            },
            RootFS = new DockerRootFs("layers", [.. details.Layers.Select(l => (l.DiffId ?? l.Digest).ToString())]),
        };
    }

    /// <summary>
    /// Pull; the answer is a stream of progress objects, and a failure after it began is its last object. The stream
    /// begins with the first progress from the registry: a failure before it (no such repository or tag, registry
    /// unreachable, refused) is an HTTP error with Docker's <c>{"message": …}</c> body, as Docker answers it.
    /// </summary>
    private static async Task PullAsync(HttpContext http, ImageStore store, DaemonOptions options)
    {
        var from = http.Request.Query["fromImage"].ToString();
        if (from.Length == 0)
        {
            throw http.Request.Query.ContainsKey("fromSrc")
                ? StrataException.Invalid("fromSrc", "importing a tarball through the Docker API is not supported; use 'strata image import'")
                : StrataException.Invalid("fromImage", "give the image to pull");
        }
        var tag = http.Request.Query["tag"].ToString();
        var reference = tag.Length == 0 ? from : tag.StartsWith("sha256:", StringComparison.Ordinal) ? $"{from}@{tag}" : $"{from}:{tag}";
        var parsed = ImageReference.Parse(reference, "fromImage");
        var registry = new RegistryOptions { InsecureRegistries = options.InsecureRegistries };
        var gate = new SemaphoreSlim(1, 1);
        var started = false;
        async Task WriteAsync(DockerProgress p)
        {
            await JsonSerializer.SerializeAsync(http.Response.Body, p, DockerJsonContext.Default.DockerProgress, http.RequestAborted);
            await http.Response.Body.WriteAsync("\r\n"u8.ToArray(), http.RequestAborted);
        }
        async Task SendAsync(DockerProgress p)
        {
            await gate.WaitAsync(http.RequestAborted);
            try
            {
                if (!started)
                {
                    started = true;
                    http.Response.ContentType = "application/json";
                    await http.Response.StartAsync(http.RequestAborted);
                    await WriteAsync(new DockerProgress { Status = $"Pulling from {parsed.Repository}", Id = parsed.Tag ?? parsed.ManifestReference });
                }
                await WriteAsync(p);
                await http.Response.Body.FlushAsync(http.RequestAborted);
            }
            finally
            {
                gate.Release();
            }
        }
        var progress = new Progress(SendAsync);
        try
        {
            var info = await store.PullAsync(reference, registry, progress, http.RequestAborted);
            await progress.DrainAsync();
            await SendAsync(new DockerProgress { Status = $"Digest: {info.ManifestDigest}" });
            await SendAsync(new DockerProgress
            {
                Status = progress.Downloaded ? $"Status: Downloaded newer image for {parsed.FamiliarName}" : $"Status: Image is up to date for {parsed.FamiliarName}",
            });
        }
        catch (StrataException e)
        {
            await progress.DrainAsync();
            if (!started)
            {
                throw;
            }
            await SendAsync(new DockerProgress { Error = e.Message, ErrorDetail = new DockerError(e.Message) });
        }
    }

    /// <summary>Store progress as Docker's per-layer lines, sent in order.</summary>
    private sealed class Progress(Func<DockerProgress, Task> send) : IProgress<PullProgress>
    {
        private Task _last = Task.CompletedTask;
        private readonly Lock _lock = new();

        /// <summary>Whether a blob was fetched (Docker's last line says "Downloaded newer image" then, else "Image is up to date").</summary>
        public bool Downloaded { get; private set; }

        public void Report(PullProgress value)
        {
            Downloaded |= value.Phase is PullPhase.Downloading or PullPhase.Done;
            var id = value.Digest.StartsWith("sha256:", StringComparison.Ordinal) ? value.Digest[7..Math.Min(value.Digest.Length, 19)] : value.Digest;
            var status = value.Phase switch
            {
                PullPhase.Downloading => "Downloading",
                PullPhase.AlreadyPresent => "Already exists",
                PullPhase.Done => "Download complete",
                PullPhase.Unpacking => "Extracting",
                PullPhase.Unpacked => "Pull complete",
                _ => value.Phase.ToString(),
            };
            var line = new DockerProgress
            {
                Status = status,
                Id = id,
                ProgressDetail = value.Phase is PullPhase.Downloading or PullPhase.Unpacking ? new DockerProgressDetail { Current = value.Current, Total = value.Total } : new DockerProgressDetail(),
                Progress = value.Phase is PullPhase.Downloading && value.Total > 0
                    ? string.Create(CultureInfo.InvariantCulture, $"{value.Current}/{value.Total}") : null,
            };
            lock (_lock)
            {
                _last = _last.ContinueWith(_ => send(line), TaskScheduler.Default).Unwrap();
            }
        }

        public Task DrainAsync()
        {
            lock (_lock)
            {
                return _last.ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }
}
