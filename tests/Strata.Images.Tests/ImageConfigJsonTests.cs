using System.Text.Json;
using System.Text.Json.Nodes;
using Strata.Contracts;
using Xunit;

namespace Strata.Images.Tests;

/// <summary>
/// <see cref="ImageConfig"/> is the one image-config type of the store, the drivers and the API; its JSON is the
/// shape <c>GET /v1/images/{reference}</c> has always returned, so clients of either side keep reading it.
/// </summary>
public sealed class ImageConfigJsonTests
{
    // An image detail as the API returned it before the store, drivers and API shared one config type.
    private const string StoredDetail = """
        {"image":{"name":"app:1","reference":"docker.io/library/app:1","id":"sha256:aa","manifestDigest":"sha256:bb",
         "kind":"oci","os":"linux","architecture":"amd64","size":10,"added":"2026-01-02T03:04:05+00:00"},
         "names":["app:1"],"manifestMediaType":"application/vnd.oci.image.manifest.v1+json",
         "config":{"entrypoint":["/entry"],"cmd":["serve","--port","80"],"env":["PATH=/bin","A=1"],"workingDir":"/srv",
         "user":"app","exposedPorts":["80/tcp"],"labels":{"team":"web"},"stopSignal":"SIGQUIT"},
         "layers":[{"digest":"sha256:cc","mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":5,"diffId":"sha256:dd"}],
         "created":"2026-01-01T00:00:00Z"}
        """;

    [Fact]
    public void ImageDetail_OldShape_ReadsIntoTheSharedConfig()
    {
        var detail = JsonSerializer.Deserialize(StoredDetail, StrataJsonContext.Default.ImageDetail)!;

        var config = Assert.IsType<ImageConfig>(detail.Config);
        Assert.Equal(["/entry"], config.Entrypoint);
        Assert.Equal(["serve", "--port", "80"], config.Cmd);
        Assert.Equal(["PATH=/bin", "A=1"], config.Env);
        Assert.Equal("/srv", config.WorkingDir);
        Assert.Equal("app", config.User);
        Assert.Equal(["80/tcp"], config.ExposedPorts);
        Assert.Equal("web", config.Labels["team"]);
        Assert.Equal("SIGQUIT", config.StopSignal);
    }

    [Fact]
    public void ImageDetail_RoundTrip_WritesTheSameMembersAsBefore()
    {
        var detail = JsonSerializer.Deserialize(StoredDetail, StrataJsonContext.Default.ImageDetail)!;
        // The platform lives in the summary; the config object carries no members an older client would reject.
        detail = detail with { Config = detail.Config! with { Os = "linux", Architecture = "amd64" } };

        var written = JsonNode.Parse(JsonSerializer.Serialize(detail, StrataJsonContext.Default.ImageDetail))!;

        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(StoredDetail)!["config"], written["config"]), written["config"]!.ToJsonString());
    }

    [Fact]
    public void ImageConfig_Empty_HasEmptyListsNotNulls()
    {
        var node = JsonNode.Parse(StoredDetail)!;
        node["config"] = new JsonObject();

        var config = JsonSerializer.Deserialize(node.ToJsonString(), StrataJsonContext.Default.ImageDetail)!.Config;

        Assert.NotNull(config);
        Assert.Empty(config.Entrypoint);
        Assert.Empty(config.Cmd);
        Assert.Empty(config.Env);
    }
}
