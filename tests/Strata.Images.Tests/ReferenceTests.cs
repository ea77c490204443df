using Strata.Contracts;
using Strata.Images.Oci;
using Xunit;

namespace Strata.Images.Tests;

public sealed class ReferenceTests
{
    [Theory]
    [InlineData("busybox", "docker.io/library/busybox:latest", "busybox:latest")]
    [InlineData("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36")]
    [InlineData("library/busybox", "docker.io/library/busybox:latest", "busybox:latest")]
    [InlineData("foo/bar", "docker.io/foo/bar:latest", "foo/bar:latest")]
    [InlineData("127.0.0.1:5000/foo/bar:tag", "127.0.0.1:5000/foo/bar:tag", "127.0.0.1:5000/foo/bar:tag")]
    [InlineData("localhost/foo", "localhost/foo:latest", "localhost/foo:latest")]
    [InlineData("index.docker.io/library/alpine", "docker.io/library/alpine:latest", "alpine:latest")]
    public void Parse_DockerNormalisation_Matches(string input, string full, string familiar)
    {
        var reference = ImageReference.Parse(input);
        Assert.Equal(full, reference.ToString());
        Assert.Equal(familiar, reference.FamiliarName);
    }

    [Fact]
    public void Parse_ByDigest_HasNoTag()
    {
        var hex = new string('a', 64);
        var reference = ImageReference.Parse($"name@sha256:{hex}");
        Assert.Null(reference.Tag);
        Assert.Equal($"sha256:{hex}", reference.ManifestReference);
        Assert.Equal($"docker.io/library/name@sha256:{hex}", reference.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("UPPER/case")]
    [InlineData("busybox:bad tag")]
    [InlineData("busybox@sha256:abc")]
    [InlineData("busybox@md5:0123")]
    [InlineData("a//b")]
    public void Parse_Invalid_ThrowsInvalidArgument(string input)
    {
        var e = Assert.Throws<StrataException>(() => ImageReference.Parse(input));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
    }

    [Theory]
    [InlineData("sha512:" + "ab", "only sha256")]
    [InlineData("sha256:ABCDEF", "64 lowercase hex")]
    [InlineData("nocolon", "not a digest")]
    public void DigestParse_Invalid_SaysWhy(string input, string why)
    {
        var e = Assert.Throws<StrataException>(() => Digest.Parse(input));
        Assert.Contains(why, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Digest_Compute_KnownValue() =>
        Assert.Equal("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Digest.Compute([]).ToString());

    [Fact]
    public void PlatformSelect_VariantsAndMissing()
    {
        var index = new ImageIndex
        {
            Manifests =
            [
                new Descriptor { MediaType = MediaTypes.OciManifest, Digest = "arm6", Platform = new Platform { Os = "linux", Architecture = "arm", Variant = "v6" } },
                new Descriptor { MediaType = MediaTypes.OciManifest, Digest = "arm7", Platform = new Platform { Os = "linux", Architecture = "arm", Variant = "v7" } },
                new Descriptor { MediaType = MediaTypes.OciManifest, Digest = "amd", Platform = new Platform { Os = "linux", Architecture = "amd64" } },
                new Descriptor { MediaType = MediaTypes.OciManifest, Digest = "att", Platform = new Platform { Os = "unknown", Architecture = "unknown" } },
            ],
        };
        Assert.Equal("amd", PlatformSelector.Select(index, new Platform { Os = "linux", Architecture = "amd64" })!.Digest);
        Assert.Equal("arm7", PlatformSelector.Select(index, new Platform { Os = "linux", Architecture = "arm", Variant = "v7" })!.Digest);
        Assert.Null(PlatformSelector.Select(index, new Platform { Os = "linux", Architecture = "riscv64" }));
        Assert.Equal("amd64", PlatformSelector.Host.Architecture);
    }

    [Fact]
    public void ParseChallenge_QuotedCommas()
    {
        var c = Registry.RegistryClient.ParseChallenge("realm=\"http://127.0.0.1:1/token\",service=\"reg\",scope=\"repository:a/b:pull,push\"");
        Assert.Equal("http://127.0.0.1:1/token", c["realm"]);
        Assert.Equal("reg", c["service"]);
        Assert.Equal("repository:a/b:pull,push", c["scope"]);
    }

    [Fact]
    public void ImageKind_PersistedNumbers_Frozen()
    {
        Assert.Equal(1, (int)ImageKind.Oci);
        Assert.Equal(2, (int)ImageKind.Wasm);
    }
}
