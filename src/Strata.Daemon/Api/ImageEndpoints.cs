using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http.Features;
using Strata.Contracts;
using Strata.Control;
using Strata.Control.Operations;
using Strata.Daemon.Images;
using Strata.Images;
using Strata.Images.Registry;
using Strata.Node.Drivers.Vm;

namespace Strata.Daemon.Api;

/// <summary>
/// REST endpoints under <c>/v1/images</c>. References contain <c>/</c> and <c>:</c>, so inspect and remove take the
/// rest of the path as the reference (<c>GET /v1/images/127.0.0.1:5000/team/app:1.0</c>). Names are global (not per
/// project). A pull runs as an operation (<c>/v1/operations</c>); everything else answers when done.
/// </summary>
public static class ImageEndpoints
{
    /// <summary>Imports may be large; every other request keeps the daemon's 1 MiB body limit.</summary>
    public const long MaxImportBytes = 64L << 30;

    public const string PullOperationKind = "image-pull";

    public static void Map(IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/images").WithTags("images");

        group.MapGet("/", (ImageStore store, VmDiskImages disks, DriverRegistry drivers) =>
            Results.Json(new ImageList([.. ImageTemplates.Attach(store.List().Select(ToSummary), drivers), .. disks.List().Select(DiskSummary)]), StrataJsonContext.Default.ImageList))
            .Produces<ImageList>().WithSummary("List image names in the store, and the disk images of the vm tier (kind disk).");

        group.MapPost("/pull", PullAsync)
            .Accepts<PullImageRequest>("application/json")
            .Produces<OperationInfo>(StatusCodes.Status202Accepted)
            .Produces<ImageSummary>()
            .WithSummary("Pull an image from a registry. Answers 202 with the operation (watch it under /v1/operations); with ?wait=true answers when the pull is done, with the image.");

        // No Accepts metadata on purpose: any Content-Type is taken (curl --data-binary sends a form type).
        group.MapPost("/import", ImportAsync)
            .Produces<ImageList>(StatusCodes.Status201Created)
            .WithSummary("Import the request body: ?kind=archive (default; a docker-save or OCI-layout tarball, ?name= names or renames it) or ?kind=rootfs (a tar of a root filesystem; ?name= required) or ?kind=disk (a bootable raw/qcow2 disk for the vm tier; ?name= required).");

        group.MapPost("/build-base", async (HttpContext http, ImageStore store) =>
        {
            var request = await ReadJsonAsync(http, StrataJsonContext.Default.BuildBaseImageRequest) ?? new BuildBaseImageRequest();
            var arm64 = request.Arch?.Trim().ToLowerInvariant() switch
            {
                null or "" or "amd64" or "host" or "x86_64" => false,
                "arm64" or "aarch64" => true,
                var other => throw StrataException.Invalid("arch", $"'{other}' is not an architecture Strata builds a base for; use amd64 or arm64"),
            };
            var name = request.Name ?? (arm64 ? "busybox:arm64" : "busybox:latest");
            ValidateName(name, "name");
            // arm64: the busybox fetched for arm64 guests; its applets are listed by the host's busybox (same Debian source).
            var info = arm64
                ? await store.BuildBusyboxBaseAsync(name, Strata.Qemu.Guest.Arm64Guest.LocateBusybox(Strata.Qemu.Guest.Arm64Guest.Directory), "arm64", "/bin/busybox", http.RequestAborted)
                : await store.BuildBusyboxBaseAsync(name, "/bin/busybox", http.RequestAborted);
            return Results.Json(ToSummary(info), StrataJsonContext.Default.ImageSummary, statusCode: StatusCodes.Status201Created);
        }).Produces<ImageSummary>(StatusCodes.Status201Created)
            .WithSummary("Build a minimal base image from the host's static busybox (Debian's busybox-static). No network. Body (optional): BuildBaseImageRequest.");

        group.MapPost("/tag", async (HttpContext http, ImageStore store) =>
        {
            var request = await ReadJsonAsync(http, StrataJsonContext.Default.TagImageRequest)
                ?? throw StrataException.Invalid("body", "expected a JSON object with 'source' and 'target'");
            ValidateReference(request.Source, "source");
            ValidateName(request.Target, "target");
            store.Tag(request.Source, request.Target);
            return Results.Json(ToSummary(store.Inspect(request.Target).Image), StrataJsonContext.Default.ImageSummary, statusCode: StatusCodes.Status201Created);
        }).Accepts<TagImageRequest>("application/json").Produces<ImageSummary>(StatusCodes.Status201Created)
            .WithSummary("Give an image another name.");

        group.MapPost("/prune", (ImageStore store, InstanceService instances, DriverRegistry drivers) =>
        {
            var (templates, templateBytes) = ImageTemplates.RemoveAll(drivers);
            var inUse = LayerReferences.Of(instances.List());
            var r = store.GarbageCollect(inUse.Contains);
            return Results.Json(new PruneImagesResult(r.BlobsRemoved, r.LayersRemoved, r.BytesFreed + templateBytes) { LayersInUse = r.LayersInUse, TemplatesRemoved = templates },
                StrataJsonContext.Default.PruneImagesResult);
        }).Produces<PruneImagesResult>().WithSummary("Delete blobs and unpacked layers that no image name refers to; layers an instance stands on stay until it is removed.");

        group.MapGet("/{**reference}", (string reference, ImageStore store) =>
        {
            ValidateReference(reference, "reference");
            return Results.Json(ToDetail(store.Inspect(reference)), StrataJsonContext.Default.ImageDetail);
        }).Produces<ImageDetail>().WithSummary("Inspect an image by name, ID or manifest digest (a unique hex prefix of 4+ works).");

        group.MapDelete("/{**reference}", (string reference, bool? force, ImageStore store, InstanceService instances, DriverRegistry drivers) =>
        {
            ValidateReference(reference, "reference");
            var imageId = ImageIdOf(store, reference);
            var users = new List<string>();
            // Forced: who stands on the image is asked before its names go (afterwards it cannot be looked up).
            var forced = force == true ? store.Inspect(reference).Image : null;
            var forcedUsers = forced is null ? [] : InstancesUsing(store, instances, forced).ToList();
            IReadOnlyList<string> removed;
            try
            {
                removed = store.Remove(reference, force ?? false, info =>
                {
                    users.AddRange(InstancesUsing(store, instances, info));
                    return users.Count > 0;
                });
            }
            catch (StrataException e) when (e.Kind == ErrorKind.Conflict && users.Count > 0)
            {
                throw StrataException.Conflict(
                    $"image {reference} is used by instance{(users.Count == 1 ? "" : "s")} {string.Join(", ", users)}; remove {(users.Count == 1 ? "it" : "them")} first, or force it (force=true, 'strata image rm -f')");
            }
            if (forced is not null && forcedUsers.Count > 0 && !store.List().Any(i => i.ManifestDigest == forced.ManifestDigest))
            {
                var them = forcedUsers.Count == 1 ? "it" : "them";
                return Results.Json(new RemovedImages(removed)
                {
                    StillUsedBy = forcedUsers,
                    Message = $"image {reference} is still used by instance{(forcedUsers.Count == 1 ? "" : "s")} {string.Join(", ", forcedUsers)}: only its name was removed; "
                        + $"{them} keep{(forcedUsers.Count == 1 ? "s" : "")} running on its layers, which 'strata image prune' frees once {them} {(forcedUsers.Count == 1 ? "is" : "are")} removed",
                }, StrataJsonContext.Default.RemovedImages);
            }
            if (imageId is not null && !store.List().Any(i => i.Id.ToString() == imageId))
            {
                ImageTemplates.RemoveFor(imageId, drivers); // the image's last name went: so do its templates
            }
            return Results.Json(new RemovedImages(removed), StrataJsonContext.Default.RemovedImages);
        }).Produces<RemovedImages>()
            .WithSummary("Remove an image name (an ID removes all its names). Refused with 409 while an instance uses the image, unless ?force=true: then only the name goes, the answer names the instances (stillUsedBy) and their layers stay until they are removed.");
    }

    /// <summary>
    /// The ID of the image <paramref name="reference"/> names, resolved as the store resolves it (a short name such as
    /// <c>busybox</c> is <c>busybox:latest</c>; an ID prefix works), so its templates go with its last name; null when
    /// there is no such image (the removal then answers 404).
    /// </summary>
    private static string? ImageIdOf(ImageStore store, string reference)
    {
        try
        {
            return store.Inspect(reference).Image.Id.ToString();
        }
        catch (StrataException e) when (e.Kind == ErrorKind.NotFound)
        {
            return null;
        }
    }

    private static async Task PullAsync(HttpContext http, ImageStore store, OperationRegistry operations, DaemonOptions options, bool? wait)
    {
        var request = await ReadJsonAsync(http, StrataJsonContext.Default.PullImageRequest)
            ?? throw StrataException.Invalid("body", "expected a JSON object with a 'reference'");
        if (string.IsNullOrWhiteSpace(request.Reference))
        {
            throw StrataException.Invalid("reference", "is required: the image to pull, such as 127.0.0.1:5000/team/app:1.0");
        }
        var parsed = ImageReference.Parse(request.Reference, "reference");
        if (request.Password is not null && string.IsNullOrEmpty(request.Username))
        {
            throw StrataException.Invalid("username", "a password was given without a username");
        }
        var registry = new RegistryOptions
        {
            InsecureRegistries = request.Insecure ? [.. options.InsecureRegistries, parsed.Registry] : options.InsecureRegistries,
            Username = request.Username,
            Password = request.Password,
        };

        var operation = operations.Start(PullOperationKind, parsed.FamiliarName, InstanceEndpoints.Project(http), async (op, ct) =>
        {
            op.SetMessage($"resolving {parsed.FamiliarName}");
            var info = await store.PullAsync(request.Reference, registry, new OperationProgressSink(op), ct).ConfigureAwait(false);
            op.SetMessage($"pulled {info.Name} ({info.Id.Short})");
            return JsonSerializer.SerializeToElement(ToSummary(info), StrataJsonContext.Default.ImageSummary);
        });

        if (wait != true)
        {
            http.Response.StatusCode = StatusCodes.Status202Accepted;
            http.Response.Headers.Location = $"/v1/operations/{operation.Id}";
            await JsonSerializer.SerializeAsync(http.Response.Body, operation.ToInfo(), StrataJsonContext.Default.OperationInfo, http.RequestAborted);
            return;
        }

        // A client that waits and then goes away no longer wants the image: stop the pull.
        await using (http.RequestAborted.Register(() => operation.Cancel()))
        {
            await operation.Completion.WaitAsync(http.RequestAborted);
        }
        if (operation.Status == OperationStatus.Succeeded && operation.Result is { } result)
        {
            http.Response.StatusCode = StatusCodes.Status200OK;
            http.Response.ContentType = "application/json";
            await JsonSerializer.SerializeAsync(http.Response.Body, result, StrataJsonContext.Default.JsonElement, http.RequestAborted);
            return;
        }
        var problem = operation.Error ?? ProblemMapping.ToProblem(new StrataException(ErrorKind.Internal, "the pull ended without a result"));
        http.Response.StatusCode = problem.Status;
        http.Response.ContentType = "application/problem+json";
        await JsonSerializer.SerializeAsync(http.Response.Body, problem, StrataJsonContext.Default.ProblemDetails, http.RequestAborted);
    }

    private static ImageSummary DiskSummary(VmDiskImage disk) => new()
    {
        Name = disk.Name,
        Reference = "disk:" + disk.Name,
        Id = "",
        ManifestDigest = "",
        Kind = "disk",
        Size = disk.VirtualSize,
        Added = disk.Added,
    };

    private static async Task<IResult> ImportAsync(HttpContext http, ImageStore store, VmDiskImages disks, TimeProvider time, string? name, string? kind)
    {
        kind ??= "archive";
        if (kind is not ("archive" or "rootfs" or "disk"))
        {
            throw StrataException.Invalid("kind", $"'{kind}' is not an import kind; use archive (docker save / OCI layout tarball), rootfs (a tar of a root filesystem) or disk (a bootable raw/qcow2 disk)");
        }
        if (kind is "rootfs" or "disk" && string.IsNullOrWhiteSpace(name))
        {
            throw StrataException.Invalid("name", "a root filesystem import needs a name for the image, such as mybase:1");
        }
        if (name is not null)
        {
            ValidateName(name, "name");
        }
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxImportBytes;
        }

        // The store reads archives by path (they are seeked and read twice), so the body is spooled first.
        var spool = Path.Combine(store.Root, SpoolPrefix + Guid.NewGuid().ToString("N"));
        try
        {
            await using (var file = new FileStream(spool, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                await http.Request.Body.CopyToAsync(file, http.RequestAborted);
                if (file.Length == 0)
                {
                    throw StrataException.Invalid("body", "is empty; send the archive's bytes as the request body");
                }
            }
            if (kind == "disk")
            {
                var disk = await disks.ImportAsync(spool, name!, time, http.RequestAborted);
                return Results.Json(new ImageList([DiskSummary(disk)]), StrataJsonContext.Default.ImageList, statusCode: StatusCodes.Status201Created);
            }
            IReadOnlyList<ImageInfo> images = kind == "archive"
                ? await store.ImportArchiveAsync(spool, name, http.RequestAborted)
                : [await store.ImportRootfsAsync(spool, name!, http.RequestAborted)];
            return Results.Json(new ImageList([.. images.Select(ToSummary)]), StrataJsonContext.Default.ImageList, statusCode: StatusCodes.Status201Created);
        }
        finally
        {
            File.Delete(spool);
        }
    }

    internal const string SpoolPrefix = ".import-";

    /// <summary>Import spools left by a daemon that died mid-request.</summary>
    internal static void CleanSpools(ImageStore store)
    {
        foreach (var stale in Directory.EnumerateFiles(store.Root, SpoolPrefix + "*"))
        {
            File.Delete(stale);
        }
    }

    /// <summary>
    /// Instances (any project, any state but deleted) whose image is one of this image's names, its ID or its
    /// manifest digest (or a prefix of 12+ hex digits of either).
    /// </summary>
    internal static IEnumerable<string> InstancesUsing(ImageStore store, InstanceService instances, ImageInfo image)
    {
        var references = new HashSet<string>(StringComparer.Ordinal) { image.Reference };
        foreach (var name in store.Inspect(image.Reference).Names)
        {
            references.Add(ImageReference.Parse(name).ToString());
        }
        foreach (var record in instances.List())
        {
            if (record.Spec.Image is not { Length: > 0 } wanted)
            {
                continue;
            }
            var hex = wanted.StartsWith(Digest.Sha256Prefix, StringComparison.Ordinal) ? wanted[Digest.Sha256Prefix.Length..] : wanted;
            var byId = hex.Length >= 12 && (image.Id.Hex.StartsWith(hex, StringComparison.Ordinal) || image.ManifestDigest.Hex.StartsWith(hex, StringComparison.Ordinal));
            var byName = ImageReference.TryParse(wanted, out var parsed, out _) && references.Contains(parsed!.ToString());
            if (byId || byName)
            {
                yield return record.Project == InstanceService.DefaultProject ? record.Name : $"{record.Project}/{record.Name}";
            }
        }
    }

    /// <summary>A reference, or an image ID / digest (full or a hex prefix of 4+).</summary>
    private static void ValidateReference(string? text, string field)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw StrataException.Invalid(field, "is required: an image name, ID or digest");
        }
        var hex = text.StartsWith(Digest.Sha256Prefix, StringComparison.Ordinal) ? text[Digest.Sha256Prefix.Length..] : text;
        if (hex.Length is >= 4 and <= 64 && hex.All(char.IsAsciiHexDigitLower))
        {
            return;
        }
        if (!ImageReference.TryParse(text, out _, out var error))
        {
            throw StrataException.Invalid(field, error!);
        }
    }

    private static void ValidateName(string? text, string field)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw StrataException.Invalid(field, "is required: an image name such as mybase:1");
        }
        var parsed = ImageReference.Parse(text, field);
        if (parsed.Digest is not null)
        {
            throw StrataException.Invalid(field, $"'{text}' contains a digest; a name is NAME[:TAG]");
        }
    }

    internal static async Task<T?> ReadJsonAsync<T>(HttpContext http, JsonTypeInfo<T> type)
    {
        if (http.Request.ContentType is { } contentType && !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            throw new StrataException(ErrorKind.InvalidArgument, $"expected a JSON body (Content-Type: application/json), got '{contentType}'");
        }
        if (http.Request.ContentLength == 0)
        {
            return default;
        }
        return await JsonSerializer.DeserializeAsync(http.Request.Body, type, http.RequestAborted);
    }

    public static ImageSummary ToSummary(ImageInfo i) => new()
    {
        Name = i.Name,
        Reference = i.Reference,
        Id = i.Id.ToString(),
        ManifestDigest = i.ManifestDigest.ToString(),
        IndexDigest = i.IndexDigest?.ToString(),
        Kind = i.Kind == ImageKind.Wasm ? "wasm" : "oci",
        Os = i.Os,
        Architecture = i.Architecture,
        Size = i.Size,
        Added = i.Added,
    };

    public static ImageDetail ToDetail(ImageDetails d) => new()
    {
        Image = ToSummary(d.Image),
        Names = d.Names,
        ManifestMediaType = d.ManifestMediaType,
        Config = d.Config,
        Layers = [.. d.Layers.Select(l => new ImageLayer(l.Digest.ToString(), l.MediaType, l.Size, l.DiffId?.ToString()))],
        Created = d.Created,
    };

    /// <summary>
    /// Forwards pull progress to the operation synchronously (<see cref="Progress{T}"/> would post to the thread pool
    /// and could reorder a blob's "done" before its last byte count).
    /// </summary>
    private sealed class OperationProgressSink(Operation operation) : IProgress<PullProgress>
    {
        public void Report(PullProgress value)
        {
            var phase = value.Phase switch
            {
                PullPhase.Downloading => "downloading",
                PullPhase.AlreadyPresent => "already-present",
                PullPhase.Done => "done",
                PullPhase.Unpacking => "unpacking",
                PullPhase.Unpacked => "unpacked",
                PullPhase.Uploading => "uploading",
                _ => "unknown",
            };
            if (value.Phase is PullPhase.Downloading or PullPhase.Unpacking)
            {
                operation.SetMessage(value.Phase is PullPhase.Downloading ? "downloading" : "unpacking layers");
            }
            operation.Report(new ProgressItem(value.Digest, value.Kind, phase, value.Current, value.Total));
        }
    }
}
