using System.Formats.Tar;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Strata.Contracts;

namespace Strata.Client;

/// <summary>Images (<c>/v1/images</c>) and operations (<c>/v1/operations</c>).</summary>
public sealed partial class StrataClient
{
    public Task<ImageList> ListImagesAsync(CancellationToken ct = default) =>
        GetAsync("v1/images", StrataJsonContext.Default.ImageList, ct);

    /// <summary>By name, ID or manifest digest (a unique hex prefix of 4+ works).</summary>
    public Task<ImageDetail> InspectImageAsync(string reference, CancellationToken ct = default) =>
        GetAsync(ImagePath(reference), StrataJsonContext.Default.ImageDetail, ct);

    /// <summary>Starts a pull and returns its operation at once; watch it with <see cref="WatchOperationAsync"/>.</summary>
    public Task<OperationInfo> PullImageAsync(PullImageRequest request, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, Q("v1/images/pull"), JsonBody(request, StrataJsonContext.Default.PullImageRequest), StrataJsonContext.Default.OperationInfo, ct);

    /// <summary>Pulls and answers when done; cancelling <paramref name="ct"/> cancels the pull.</summary>
    public Task<ImageSummary> PullImageAndWaitAsync(PullImageRequest request, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, Q("v1/images/pull", "wait=true"), JsonBody(request, StrataJsonContext.Default.PullImageRequest), StrataJsonContext.Default.ImageSummary, ct);

    /// <summary>Imports a <c>docker save</c> or OCI-layout tarball (plain or gzipped), streamed from <paramref name="archive"/>.</summary>
    public Task<ImageList> ImportImageAsync(Stream archive, string? name = null, CancellationToken ct = default) =>
        ImportAsync(new StreamContent(archive, 1 << 16), "archive", name, ct);

    /// <summary>Imports a bootable raw or qcow2 disk image for the vm tier as <paramref name="name"/>.</summary>
    public Task<ImageList> ImportDiskImageAsync(Stream disk, string name, CancellationToken ct = default) =>
        ImportAsync(new StreamContent(disk, 1 << 16), "disk", name, ct);

    /// <summary>Imports a tar (or tar.gz) of a root filesystem as a one-layer image named <paramref name="name"/>.</summary>
    public Task<ImageList> ImportRootfsAsync(Stream tar, string name, CancellationToken ct = default) =>
        ImportAsync(new StreamContent(tar, 1 << 16), "rootfs", name, ct);

    /// <summary>Tars <paramref name="directory"/> on the fly (sorted, symlinks kept as links) and imports it as a root filesystem.</summary>
    public Task<ImageList> ImportRootfsDirectoryAsync(string directory, string name, CancellationToken ct = default)
    {
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"{directory} is not a directory");
        }
        return ImportAsync(new DirectoryTarContent(Path.GetFullPath(directory)), "rootfs", name, ct);
    }

    /// <summary>
    /// Imports an archive that <paramref name="write"/> writes as the request goes (chunked; nothing is held whole in
    /// memory): daemon to daemon, a cold move streaming an image from its store. Cancelling <paramref name="ct"/>
    /// aborts the request, and the target keeps nothing of it.
    /// </summary>
    public Task<ImageList> ImportImageAsync(Func<Stream, CancellationToken, Task> write, string? name = null, CancellationToken ct = default) =>
        ImportAsync(new WriterContent(write), "archive", name, ct);

    private Task<ImageList> ImportAsync(HttpContent body, string kind, string? name, CancellationToken ct)
    {
        body.Headers.ContentType = new MediaTypeHeaderValue("application/x-tar");
        var query = new StringBuilder("v1/images/import?kind=").Append(kind);
        if (name is not null)
        {
            query.Append("&name=").Append(Uri.EscapeDataString(name));
        }
        return SendAsync(HttpMethod.Post, query.ToString(), body, StrataJsonContext.Default.ImageList, ct);
    }

    /// <summary>Builds the busybox base image from the daemon host's busybox-static (default name <c>busybox:latest</c>).</summary>
    public Task<ImageSummary> BuildBaseImageAsync(string? name = null, CancellationToken ct = default) =>
        BuildBaseImageAsync(name, arch: null, ct);

    public Task<ImageSummary> BuildBaseImageAsync(string? name, string? arch, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, "v1/images/build-base", JsonBody(new BuildBaseImageRequest { Name = name, Arch = arch }, StrataJsonContext.Default.BuildBaseImageRequest),
            StrataJsonContext.Default.ImageSummary, ct);

    /// <summary>Turns the stopped container <paramref name="name"/> into the image <paramref name="image"/> (its writable layer on top of its image); <paramref name="cmd"/> replaces the Cmd.</summary>
    public Task<ImageSummary> CommitAsync(string name, string image, IReadOnlyList<string>? cmd = null, CancellationToken ct = default)
    {
        var query = new StringBuilder("image=").Append(Uri.EscapeDataString(image));
        foreach (var word in cmd ?? [])
        {
            query.Append("&cmd=").Append(Uri.EscapeDataString(word));
        }
        return SendAsync(HttpMethod.Post, Q($"v1/instances/{N(name)}/commit", query.ToString()), null, StrataJsonContext.Default.ImageSummary, ct);
    }

    public Task<ImageSummary> TagImageAsync(string source, string target, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, "v1/images/tag", JsonBody(new TagImageRequest { Source = source, Target = target }, StrataJsonContext.Default.TagImageRequest),
            StrataJsonContext.Default.ImageSummary, ct);

    /// <summary>Removes a name (an ID removes every name). Refused (409) while an instance uses it, unless <paramref name="force"/>.</summary>
    public Task<RemovedImages> RemoveImageAsync(string reference, bool force = false, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Delete, ImagePath(reference) + (force ? "?force=true" : ""), null, StrataJsonContext.Default.RemovedImages, ct);

    public Task<PruneImagesResult> PruneImagesAsync(CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, "v1/images/prune", null, StrataJsonContext.Default.PruneImagesResult, ct);

    public Task<OperationList> ListOperationsAsync(CancellationToken ct = default) =>
        GetAsync(Q("v1/operations"), StrataJsonContext.Default.OperationList, ct);

    public Task<OperationInfo> GetOperationAsync(string id, CancellationToken ct = default) =>
        GetAsync(Q($"v1/operations/{N(id)}"), StrataJsonContext.Default.OperationInfo, ct);

    /// <summary>Blocks until the operation has finished (or <paramref name="timeout"/> has passed) and returns it.</summary>
    public Task<OperationInfo> WaitOperationAsync(string id, TimeSpan? timeout = null, CancellationToken ct = default) =>
        GetAsync(Q($"v1/operations/{N(id)}/wait", timeout is { } t ? $"timeout={(int)Math.Ceiling(t.TotalSeconds)}" : null), StrataJsonContext.Default.OperationInfo, ct);

    /// <summary>Cancels a running operation; returns it once it has stopped. 409 when it had already finished.</summary>
    public Task<OperationInfo> CancelOperationAsync(string id, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Delete, Q($"v1/operations/{N(id)}"), null, StrataJsonContext.Default.OperationInfo, ct);

    /// <summary>The operation now, then progress of its items, then the operation in its final state.</summary>
    public async IAsyncEnumerable<OperationEvent> WatchOperationAsync(string id, [EnumeratorCancellation] CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, Q($"v1/operations/{N(id)}/events"));
        using var response = await SendRawAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false), Encoding.UTF8);
        while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
        {
            if (line.Length > 0)
            {
                yield return JsonSerializer.Deserialize(line, StrataJsonContext.Default.OperationEvent)!;
            }
        }
    }

    /// <summary>References contain '/' (kept as path separators: the route takes the rest of the path) and ':' (escaped).</summary>
    private static string ImagePath(string reference) =>
        "v1/images/" + string.Join('/', reference.Split('/').Select(Uri.EscapeDataString));

    private static ByteArrayContent JsonBody<T>(T value, JsonTypeInfo<T> type)
    {
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(value, type));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    /// <summary>A directory written as a tar stream while it is sent (chunked): entries sorted, links not followed.</summary>
    /// <summary>A request body its writer produces as it is sent (length unknown: chunked).</summary>
    private sealed class WriterContent(Func<Stream, CancellationToken, Task> write) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
            write(stream, cancellationToken);

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }

    private sealed class DirectoryTarContent(string directory) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            await using var writer = new TarWriter(stream, TarEntryFormat.Pax, leaveOpen: true);
            await WriteTreeAsync(writer, directory, "", cancellationToken).ConfigureAwait(false);
        }

        private static async Task WriteTreeAsync(TarWriter writer, string dir, string prefix, CancellationToken ct)
        {
            foreach (var path in Directory.EnumerateFileSystemEntries(dir).Order(StringComparer.Ordinal))
            {
                ct.ThrowIfCancellationRequested();
                var name = prefix + Path.GetFileName(path);
                var info = new FileInfo(path);
                var isRealDirectory = info.Attributes.HasFlag(FileAttributes.Directory) && info.LinkTarget is null;
                await writer.WriteEntryAsync(path, isRealDirectory ? name + "/" : name, ct).ConfigureAwait(false);
                if (isRealDirectory)
                {
                    await WriteTreeAsync(writer, path, name + "/", ct).ConfigureAwait(false);
                }
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }
}
