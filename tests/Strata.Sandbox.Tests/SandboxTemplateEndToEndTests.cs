using System.Diagnostics;
using System.Text.Json;
using Strata.Client;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Sandbox.Tests;

/// <summary>
/// Templates through the published stratad and strata (docs/sandbox.md#templates): <c>kill -9</c> of the daemon while a
/// template is being made leaves nothing that is ever used; <c>inspect</c>, <c>image ls</c>, <c>image prune</c>, and <c>image rm</c>
/// (the template and the cached empty overlays go with the image's last name; a second project's token is refused).
/// </summary>
public sealed class SandboxTemplateEndToEndTests : IDisposable
{
    private readonly TempDirectory _temp = new("strata-tple2e");
    private Process? _daemon;

    private string Socket => _temp.Combine("s.sock");

    private string Templates => _temp.Combine("root", "cache", "guest", "templates");

    private async Task StartDaemonAsync() =>
        _daemon = await PublishedDaemon.StartAsync(Socket,
            ["--root", _temp.Combine("root"), "--socket", Socket, "--supervisor", SandboxTestHost.Supervisor!, "--no-docker-socket"],
            new Dictionary<string, string> { ["STRATA_SANDBOX_ACCEL"] = "tcg" });

    private async Task<(int Code, string Stdout, string Stderr)> CliAsync(params string[] args) =>
        await PublishedCli.RunAsync(Socket, TimeSpan.FromMinutes(4), args);

    private static bool TemplateBootRunning(string tempDir) => ProcessCensus.Naming(tempDir).Any();

    [SkippableFact]
    public async Task KillDaemonWhileMakingATemplate_LeavesNothingUsed_ThenImageLsAndPrune()
    {
        SandboxTestHost.RequireEngine();
        TestEnvironment.Require(File.Exists(Path.Combine(TestEnvironment.ArtifactsBin, "stratad")) && File.Exists(Path.Combine(TestEnvironment.ArtifactsBin, "strata")),
            "stratad and strata are not published; run scripts/publish-native.sh");
        await StartDaemonAsync();
        Assert.Equal(0, (await CliAsync("image", "build-base", "busybox")).Code);

        // The first start makes the template: kill -9 the daemon while its template boot runs (memory file in place).
        var run = CliAsync("run", "--rm", "--tier", "sandbox", "busybox", "--", "echo", "never");
        string? tempDir = null;
        Assert.True(await TestEnvironment.EventuallyAsync(() =>
        {
            tempDir = Directory.Exists(Templates)
                ? Directory.GetDirectories(Templates, ".tmp-*").FirstOrDefault(d => File.Exists(Path.Combine(d, "memory")))
                : null;
            return tempDir is not null;
        }, TimeSpan.FromMinutes(3)), "no template was being made");
        _daemon!.Kill();
        await _daemon.WaitForExitAsync();
        await run;
        Assert.DoesNotContain(Directory.GetDirectories(Templates), d => !Path.GetFileName(d).StartsWith('.'));
        Assert.True(Directory.Exists(tempDir), "the half-made template is still there for the next daemon to remove");

        // The next daemon removes the half-made one (and its QEMU), never uses it, and makes a whole one.
        await StartDaemonAsync();
        var second = await CliAsync("run", "--name", "after", "--tier", "sandbox", "busybox", "--", "echo", "fresh");
        Assert.True(second.Code == 0, second.Stderr);
        Assert.Equal("fresh\n", second.Stdout);
        Assert.False(Directory.Exists(tempDir), $"{tempDir} was not removed");
        Assert.False(TemplateBootRunning(tempDir!), "the killed daemon's template boot still runs");
        var inspect = JsonDocument.Parse((await CliAsync("inspect", "after", "--json")).Stdout).RootElement;
        var how = inspect.GetProperty("details").GetProperty("template").GetString()!;
        Assert.True(how.StartsWith("template ", StringComparison.Ordinal) && how.Contains("made by this start", StringComparison.Ordinal), how);
        var key = how.Split(' ')[1];
        Assert.True(File.Exists(Path.Combine(Templates, key, "template.json")));

        // image ls shows it with the image; prune removes it; the next start makes it again.
        var ls = JsonDocument.Parse((await CliAsync("image", "ls", "--json")).Stdout).RootElement;
        var busybox = ls.GetProperty("items").EnumerateArray().Single(i => i.GetProperty("name").GetString() == "busybox:latest");
        var template = Assert.Single(busybox.GetProperty("templates").EnumerateArray());
        Assert.Equal(key, template.GetProperty("key").GetString());
        Assert.Equal("sandbox", template.GetProperty("tier").GetString());
        Assert.True(template.GetProperty("sizeBytes").GetInt64() > 1024 * 1024);
        var table = await CliAsync("image", "ls");
        Assert.Contains("sandbox 256M", table.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, (await CliAsync("rm", "after")).Code);
        var prune = JsonDocument.Parse((await CliAsync("image", "prune", "--json")).Stdout).RootElement;
        Assert.Equal(1, prune.GetProperty("templatesRemoved").GetInt32());
        Assert.False(Directory.Exists(Path.Combine(Templates, key)));
        var third = await CliAsync("run", "--rm", "--tier", "sandbox", "busybox", "--", "echo", "again");
        Assert.True(third.Code == 0, third.Stderr);
        Assert.True(File.Exists(Path.Combine(Templates, key, "template.json")));

        // image rm of the image's last name removes its template and the cached empty overlays on its base disk (made
        // again at its next start), and nothing of another image's; a second project's token may not (images are the host's).
        var overlays = _temp.Combine("root", "cache", "guest", "disks", "overlays");
        var mine = Directory.GetFiles(overlays, "image-*.qcow2");
        Assert.NotEmpty(mine);
        var others = Path.Combine(overlays, "image-0000000000000000000000000000000000000000000000000000000000000000-tple2e.qcow2");
        File.WriteAllBytes(others, [1, 2, 3]);
        using (var admin = new StrataClient(new ClientOptions { Socket = Socket }))
        {
            await admin.CreateProjectAsync(new CreateProjectRequest { Name = "tple2e-other" });
            var token = (await admin.CreateTokenAsync("tple2e-other", "admin")).Token!;
            using var other = new StrataClient(new ClientOptions { Socket = Socket, Token = token });
            Assert.Equal(ErrorKind.Forbidden, (await Assert.ThrowsAsync<StrataApiException>(() => other.RemoveImageAsync("busybox", force: true))).Kind);
            Assert.True(File.Exists(Path.Combine(Templates, key, "template.json")), "a project's token removed the host's template");
            Assert.All(mine, f => Assert.True(File.Exists(f), $"a project's token removed the cached overlay {f}"));
        }
        // The run whose daemon was killed above left its instance, which stands on the image: it goes first.
        foreach (var name in (await CliAsync("ps", "-a", "-q")).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            Assert.Equal(0, (await CliAsync("rm", "-f", name)).Code);
        }
        var rm = await CliAsync("image", "rm", "busybox");
        Assert.True(rm.Code == 0, rm.Stderr);
        Assert.False(Directory.Exists(Path.Combine(Templates, key)), "image rm left the image's template");
        Assert.All(mine, f => Assert.False(File.Exists(f), $"image rm left the cached overlay {f}"));
        Assert.True(File.Exists(others), "image rm removed another image's cached overlay");
        var after = JsonDocument.Parse((await CliAsync("image", "ls", "--json")).Stdout).RootElement;
        Assert.DoesNotContain(after.GetProperty("items").EnumerateArray(), i => i.GetProperty("name").GetString() == "busybox:latest");
    }

    public void Dispose()
    {
        if (_daemon is { HasExited: false })
        {
            _daemon.Kill();
            _daemon.WaitForExit();
        }
        foreach (var d in Directory.Exists(Templates) ? Directory.GetDirectories(Templates, ".tmp-*") : [])
        {
            ProcessCensus.KillNaming(d);
        }
        _temp.Dispose();
    }
}
