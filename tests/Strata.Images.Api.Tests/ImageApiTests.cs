using Strata.Client;
using Strata.Contracts;
using Strata.Images.Tests;
using Xunit;

namespace Strata.Images.Api.Tests;

/// <summary>The /v1/images endpoints through the real client, against an in-process daemon.</summary>
public sealed class ImageApiTests
{
    private static void RequireBusybox() => Tools.Require("/bin/busybox", "busybox-static");

    [SkippableFact]
    public async Task BuildBase_ThenList_ShowsBusyboxLatest()
    {
        RequireBusybox();
        await using var api = await ApiFixture.StartAsync();
        var built = await api.Client.BuildBaseImageAsync("busybox");
        Assert.Equal("busybox:latest", built.Name);

        var list = await api.Client.ListImagesAsync();
        var image = Assert.Single(list.Items);
        Assert.Equal("busybox:latest", image.Name);
        Assert.Equal("docker.io/library/busybox:latest", image.Reference);
        Assert.Equal("oci", image.Kind);
        Assert.Equal("linux", image.Os);
        Assert.Equal("amd64", image.Architecture);
        Assert.StartsWith("sha256:", image.Id, StringComparison.Ordinal);
        Assert.True(image.Size > 100_000, $"size {image.Size}");
    }

    [SkippableFact]
    public async Task InspectAndTag_ByNameAndIdPrefix_SameImageUnderTwoNames()
    {
        RequireBusybox();
        await using var api = await ApiFixture.StartAsync();
        var built = await api.Client.BuildBaseImageAsync();

        var detail = await api.Client.InspectImageAsync("busybox:latest");
        Assert.Equal(built.Id, detail.Image.Id);
        Assert.Single(detail.Layers);
        Assert.Equal(["sh"], detail.Config!.Cmd);

        // A name with a registry, a port and a path goes through the catch-all route.
        var tagged = await api.Client.TagImageAsync("busybox", "127.0.0.1:5000/team/base:1");
        Assert.Equal("127.0.0.1:5000/team/base:1", tagged.Name);
        Assert.Equal(built.Id, tagged.Id);
        var byTag = await api.Client.InspectImageAsync("127.0.0.1:5000/team/base:1");
        Assert.Equal(["127.0.0.1:5000/team/base:1", "busybox:latest"], byTag.Names);

        var byId = await api.Client.InspectImageAsync(built.Id["sha256:".Length..][..12]);
        Assert.Equal(built.ManifestDigest, byId.Image.ManifestDigest);
        Assert.Equal(2, (await api.Client.ListImagesAsync()).Items.Count(i => i.Id == built.Id));

        var missing = await Assert.ThrowsAsync<StrataApiException>(() => api.Client.InspectImageAsync("nothere:1"));
        Assert.Equal(404, missing.Status);
    }

    [SkippableFact]
    public async Task Remove_ImageUsedByInstance_RefusedNamingItUnlessForced()
    {
        RequireBusybox();
        await using var api = await ApiFixture.StartAsync();
        await api.Client.BuildBaseImageAsync();
        await api.Client.CreateAsync(new InstanceSpec { Name = "user1", Tier = "fake", Image = "busybox", Args = ["sleep"] }, start: false);

        var refused = await Assert.ThrowsAsync<StrataApiException>(() => api.Client.RemoveImageAsync("busybox:latest"));
        Assert.Equal(409, refused.Status);
        Assert.Contains("user1", refused.Message, StringComparison.Ordinal);
        Assert.Single((await api.Client.ListImagesAsync()).Items);

        var removed = await api.Client.RemoveImageAsync("busybox:latest", force: true);
        Assert.Equal(["busybox:latest"], removed.Removed);
        Assert.Empty((await api.Client.ListImagesAsync()).Items);

        // Nothing names the blobs any more: prune frees them.
        var pruned = await api.Client.PruneImagesAsync();
        Assert.True(pruned.BlobsRemoved >= 3, $"removed {pruned.BlobsRemoved} blobs");
        Assert.Equal(1, pruned.LayersRemoved);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(api.ImagesRoot, "blobs", "sha256")));
    }

    [SkippableFact]
    public async Task Remove_InstanceRemovedFirst_Allowed()
    {
        RequireBusybox();
        await using var api = await ApiFixture.StartAsync();
        var built = await api.Client.BuildBaseImageAsync();
        // Referenced by image ID this time.
        await api.Client.CreateAsync(new InstanceSpec { Name = "byid", Tier = "fake", Image = built.Id, Args = ["sleep"] }, start: false);
        var refused = await Assert.ThrowsAsync<StrataApiException>(() => api.Client.RemoveImageAsync("busybox"));
        Assert.Contains("byid", refused.Message, StringComparison.Ordinal);

        await api.Client.DeleteAsync("byid");
        Assert.Equal(["busybox:latest"], (await api.Client.RemoveImageAsync("busybox")).Removed);
    }

    [SkippableFact]
    public async Task Import_DockerSaveTarball_NamedAsInArchive()
    {
        await using var api = await ApiFixture.StartAsync();
        var layer = new TarBuilder().Dir("bin/").File("bin/hello", "#!/bin/sh\necho hi\n", 0b111_101_101).Build();
        var path = api.Dir.Combine("saved.tar");
        ArchiveBuilder.DockerSave(path, layer, "example.com/app:1");

        await using (var file = File.OpenRead(path))
        {
            var imported = await api.Client.ImportImageAsync(file);
            var image = Assert.Single(imported.Items);
            Assert.Equal("example.com/app:1", image.Name);
        }
        var detail = await api.Client.InspectImageAsync("example.com/app:1");
        Assert.Equal(["/bin/hello"], detail.Config!.Cmd);
        Assert.Equal("/srv", detail.Config.WorkingDir);

        // The same archive under another name (?name=).
        await using (var again = File.OpenRead(path))
        {
            Assert.Equal("renamed:2", Assert.Single((await api.Client.ImportImageAsync(again, "renamed:2")).Items).Name);
        }
    }

    [SkippableFact]
    public async Task Import_LargerThanTheApiBodyLimit_Accepted()
    {
        await using var api = await ApiFixture.StartAsync();
        var big = new byte[3 << 20];
        Random.Shared.NextBytes(big);
        var tar = new MemoryStream();
        using (var writer = new System.Formats.Tar.TarWriter(tar, System.Formats.Tar.TarEntryFormat.Pax, leaveOpen: true))
        {
            writer.WriteEntry(new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, "data.bin") { DataStream = new MemoryStream(big) });
        }
        tar.Position = 0;
        var image = Assert.Single((await api.Client.ImportRootfsAsync(tar, "bigroot:1")).Items);
        Assert.True(image.Size > big.Length);
    }

    [SkippableFact]
    public async Task ImportRootfsDirectory_TarredOnTheFly_OneLayerImage()
    {
        await using var api = await ApiFixture.StartAsync();
        var rootfs = api.Dir.Combine("rootfs");
        Directory.CreateDirectory(Path.Combine(rootfs, "etc"));
        File.WriteAllText(Path.Combine(rootfs, "etc", "hostname"), "inside\n");
        File.CreateSymbolicLink(Path.Combine(rootfs, "hosts"), "/etc/hosts");

        var image = Assert.Single((await api.Client.ImportRootfsDirectoryAsync(rootfs, "myroot:1")).Items);
        Assert.Equal("myroot:1", image.Name);
        var detail = await api.Client.InspectImageAsync("myroot:1");
        var layer = Assert.Single(detail.Layers);

        // The unpacked layer holds the file and the link (kept as a link, not followed).
        var unpacked = Path.Combine(api.ImagesRoot, "layers", layer.DiffId!["sha256:".Length..]);
        Assert.Equal("inside\n", File.ReadAllText(Path.Combine(unpacked, "etc", "hostname")));
        Assert.Equal("/etc/hosts", new FileInfo(Path.Combine(unpacked, "hosts")).LinkTarget);
    }

    [SkippableFact]
    public async Task BadInput_400NamingTheField()
    {
        await using var api = await ApiFixture.StartAsync();
        async Task<StrataApiException> Bad(Func<Task> call)
        {
            var e = await Assert.ThrowsAsync<StrataApiException>(call);
            Assert.Equal(400, e.Status);
            return e;
        }

        Assert.Equal("reference", (await Bad(() => api.Client.PullImageAsync(new PullImageRequest { Reference = "Bad Name!" }))).Field);
        Assert.Equal("reference", (await Bad(() => api.Client.PullImageAsync(new PullImageRequest { Reference = "" }))).Field);
        Assert.Equal("username", (await Bad(() => api.Client.PullImageAsync(new PullImageRequest { Reference = "a/b:1", Password = "x" }))).Field);
        Assert.Equal("target", (await Bad(() => api.Client.TagImageAsync("busybox", "UPPER/case"))).Field);
        Assert.Equal("reference", (await Bad(() => api.Client.InspectImageAsync("no spaces allowed"))).Field);
        Assert.Equal("reference", (await Bad(() => api.Client.RemoveImageAsync("x::y"))).Field);
        Assert.Equal("name", (await Bad(() => api.Client.BuildBaseImageAsync("Not_A:valid:name"))).Field);
        Assert.Equal("name", (await Bad(() => api.Client.ImportRootfsAsync(new MemoryStream([1, 2, 3]), "bad name"))).Field);

        var unknownField = await Bad(() => PostRawAsync(api, "v1/images/pull", """{"reference":"a:1","insecur":true}"""));
        Assert.Equal("insecur", unknownField.Field);
        var kind = await Bad(() => PostRawAsync(api, "v1/images/import?kind=zip", "x"));
        Assert.Equal("kind", kind.Field);
    }

    [Fact]
    public async Task Resolve_ImageNotInTheStore_SaysWhatToDoOnce()
    {
        using var dir = new Strata.Testing.TempDirectory("strata-resolver");
        var resolver = new Strata.Node.Images.ImageStoreResolver(new Strata.Images.ImageStore(dir.Path));
        var e = await Assert.ThrowsAsync<StrataException>(() => resolver.ResolveAsync("busybox", CancellationToken.None));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Equal("image", e.Field);
        Assert.StartsWith("image: image busybox is not in the store", e.Message, StringComparison.Ordinal);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(e.Message, "pull, import or build it first"));
        Assert.EndsWith("(strata image ls lists what is here)", e.Message, StringComparison.Ordinal);
    }

    private static async Task PostRawAsync(ApiFixture api, string path, string body)
    {
        using var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(api.Dir.Combine("s.sock")), ct);
                return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
            },
        }) { BaseAddress = new Uri("http://strata/") };
        using var response = await http.PostAsync(path, new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        if (!response.IsSuccessStatusCode)
        {
            var problem = System.Text.Json.JsonSerializer.Deserialize(await response.Content.ReadAsStringAsync(), StrataJsonContext.Default.ProblemDetails)!;
            throw new StrataApiException(ErrorKind.InvalidArgument, (int)response.StatusCode, problem.Detail ?? "", problem.Field);
        }
    }
}
