using System.Net;
using System.Text.Json;
using Strata.Images;
using Strata.Images.Registry;
using Strata.Testing;

namespace Strata.DockerApi.Tests;

/// <summary>
/// <c>docker pull</c> (<c>POST /images/create</c> and its progress stream) from a real docker-registry on loopback
/// that the daemon trusts over plain HTTP, with both docker CLIs on this host when present (28.x and Debian's 20.10).
/// </summary>
[Collection(DockerCollection.Name)]
public sealed class DockerPullTests(DockerFixture fx)
{
    public static TheoryData<string> Clis => ["/usr/local/bin/docker", "/usr/bin/docker"];

    /// <summary>
    /// Pushes busybox plus one layer of its own (a file naming <paramref name="what"/>, printed by the image's Cmd) to
    /// the test registry, from a store of its own, so the daemon has that layer to download; returns the reference.
    /// </summary>
    private async Task<string> PushStampedImageAsync(string what)
    {
        using var dir = new TempDirectory("strata-dkpull");
        var source = new ImageStore(dir.Combine("store"));
        await source.BuildBusyboxBaseAsync("busybox:latest");
        var upper = dir.Combine("upper");
        Directory.CreateDirectory(upper);
        await File.WriteAllTextAsync(Path.Combine(upper, "stamp"), $"pulled {what}\n");
        await source.CommitLayerAsync("busybox:latest", upper, "stamp:1", ["cat", "/stamp"]);
        var reference = $"{fx.Registry!.Host}/strata/{fx.Name(what)}:1";
        await source.PushAsync("stamp:1", reference, new RegistryOptions { InsecureRegistries = [fx.Registry.Host] });
        return reference;
    }

    private void RequireRegistry(string cli)
    {
        fx.RequireEngine();
        TestEnvironment.Require(fx.Registry is not null, "/usr/bin/docker-registry is missing; install the Debian package 'docker-registry' (scripts/deps/docker-api.txt)");
        Skip.If(!File.Exists(cli) && !TestEnvironment.IsCi, $"{cli} is not installed here");
    }

    [SkippableTheory]
    [MemberData(nameof(Clis))]
    public async Task Pull_FromTestRegistry_ProgressThenListedAndRunnable(string cli)
    {
        RequireRegistry(cli);
        var what = cli.Contains("local", StringComparison.Ordinal) ? "pull-new" : "pull-old";
        var reference = await PushStampedImageAsync(what);

        var output = await fx.OkAsync($"pull {reference}", docker: cli);
        Assert.Contains("Pulling from strata/" + fx.Name(what), output);
        Assert.Contains("Pull complete", output);
        Assert.Contains("Digest: sha256:", output);
        Assert.Contains($"Status: Downloaded newer image for {reference}", output);

        var images = await fx.OkAsync("images --format '{{.Repository}}:{{.Tag}} {{.ID}}'", docker: cli);
        Assert.Contains(reference + " ", images);
        var inspect = await fx.OkAsync($"image inspect --format '{{{{json .Config.Cmd}}}}' {reference}", docker: cli);
        Assert.Equal("""["cat","/stamp"]""", inspect.Trim());

        Assert.Equal($"pulled {what}\n", await fx.OkAsync($"run --rm --network none {reference}", docker: cli));
        Assert.DoesNotContain(fx.Instances.List("default"), r => r.Spec.Image == reference);

        // The same pull again finds every layer present.
        var again = await fx.OkAsync($"pull {reference}", docker: cli);
        Assert.Contains("Already exists", again);
        Assert.DoesNotContain("Pull complete", again);
        Assert.Contains($"Status: Image is up to date for {reference}", again);
        await fx.OkAsync($"rmi {reference}", docker: cli);
    }

    [SkippableTheory]
    [MemberData(nameof(Clis))]
    public async Task Pull_MissingTag_DockerShapedErrorAndNonZeroExit(string cli)
    {
        RequireRegistry(cli);
        var missing = $"{fx.Registry!.Host}/strata/{fx.Name("absent")}:nope";

        var (code, stdout, stderr) = await fx.RunAsync($"pull {missing}", docker: cli);
        Assert.NotEqual(0, code);
        Assert.Contains("Error response from daemon", stderr);
        Assert.Contains("not found", stderr + stdout, StringComparison.OrdinalIgnoreCase);
        var images = await fx.OkAsync("images --format '{{.Repository}}:{{.Tag}}'", docker: cli);
        Assert.DoesNotContain(fx.Name("absent"), images);

        // The body itself: Docker's error object with a 404, before any progress was streamed.
        using var http = fx.Http();
        using var response = await http.PostAsync($"/v1.41/images/create?fromImage={fx.Registry.Host}/strata/{fx.Name("absent")}&tag=nope", null);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Contains("nope", body.RootElement.GetProperty("message").GetString());
    }
}
