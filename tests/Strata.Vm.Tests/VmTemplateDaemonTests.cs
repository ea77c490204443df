using System.Diagnostics;
using System.Text.Json;
using Strata.Client;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Vm.Tests;

/// <summary>
/// The vm tier's templates (docs/vm.md#templates) through the published stratad and strata, on one data root: a
/// <c>kill -9</c> of the daemon while a template is being saved leaves nothing that is ever used; <c>inspect</c> (text and
/// <c>--json</c>) says how each guest started; <c>image ls</c> lists the template with its size; a second project's token
/// sees it with the image (images are shared) but can neither remove nor prune it (403); <c>prune</c> and <c>image rm</c>
/// remove it; a <c>--disposable</c> VM restores it at every start on a fresh disk; <c>--no-template</c> and the daemon's <c>--no-vm-templates</c> boot cold and say why. One test: every step
/// builds on the previous one's daemon, image and template, so the guest boots as few times as the steps need.
/// </summary>
public sealed class VmTemplateDaemonTests : IDisposable
{
    private const string Image = "busybox:latest";
    private static readonly TimeSpan Budget = TimeSpan.FromMinutes(4);
    private readonly TempDirectory _temp = new("vt24b");
    private Process? _daemon;

    private string Root => _temp.Combine("root");

    private string Socket => _temp.Combine("d.sock");

    private string Templates => Path.Combine(Root, "cache", "guest", "vm-templates");

    private async Task StartDaemonAsync(params string[] extra) =>
        _daemon = await PublishedDaemon.StartAsync(Socket, ["--root", Root, "--socket", Socket, "--no-docker-socket", "--log-max-size", "1M", .. extra]);

    private async Task StopDaemonAsync()
    {
        await PublishedDaemon.StopAsync(_daemon!, TimeSpan.FromSeconds(60));
        _daemon = null;
    }

    private async Task<(int Code, string Stdout, string Stderr)> CliAsAsync(string? token, params string[] args) =>
        await PublishedCli.RunAsync(new Dictionary<string, string?> { ["STRATA_SOCKET"] = Socket, ["STRATA_TOKEN"] = null }, Budget,
            token is null ? args : ["--token", token, .. args]);

    private Task<(int Code, string Stdout, string Stderr)> CliAsync(params string[] args) => CliAsAsync(null, args);

    private async Task<string> OkAsync(params string[] args)
    {
        var (code, stdout, stderr) = await CliAsync(args);
        Assert.True(code == 0, $"strata {string.Join(' ', args)} exited {code}: {stderr}");
        return stdout;
    }

    /// <summary>How the guest of <paramref name="name"/> started (the <c>template</c> value of <c>inspect --json</c>).</summary>
    private async Task<string> HowStartedAsync(string name)
    {
        var inspect = JsonDocument.Parse(await OkAsync("inspect", "--json", name)).RootElement;
        return inspect.GetProperty("details").TryGetProperty("template", out var how) ? how.GetString()! : "(no template value in inspect)";
    }

    /// <summary>The templates <c>image ls --json</c> lists with busybox:latest (as <paramref name="token"/> sees them).</summary>
    private async Task<List<JsonElement>> ListedTemplatesAsync(string? token = null)
    {
        var (code, stdout, stderr) = await CliAsAsync(token, "image", "ls", "--json");
        Assert.True(code == 0, stderr);
        var busybox = JsonDocument.Parse(stdout).RootElement.GetProperty("items").EnumerateArray().Single(i => i.GetProperty("name").GetString() == Image);
        return busybox.TryGetProperty("templates", out var t) && t.ValueKind == JsonValueKind.Array ? [.. t.EnumerateArray()] : [];
    }

    private string[] Finished() => Directory.Exists(Templates) ? [.. Directory.GetDirectories(Templates).Where(d => !Path.GetFileName(d).StartsWith('.'))] : [];

    private static bool RunsWith(string text) => ProcessCensus.Naming(text).Any();

    [SkippableFact]
    public async Task KillDuringSave_NeverUsed_ThenInspectImageLsOtherProjectPruneRmNoTemplateAndDaemonFlag()
    {
        VmFixture.RequireEngine();
        VmDaemon.RequireBinaries();
        await StartDaemonAsync();
        await OkAsync("image", "build-base", "busybox");

        // 1. The first start makes the template: kill -9 the daemon while QEMU writes its state (the save), then the
        //    half-written template is in its temporary directory only, never under its key.
        var first = CliAsync("run", "--name", "vt24b-killed", "--tier", "vm", Image, "--", "echo", "never");
        string? saving = null;
        var deadline = DateTime.UtcNow + Budget;
        while (saving is null && DateTime.UtcNow < deadline && !first.IsCompleted)
        {
            saving = Directory.Exists(Templates)
                ? Directory.GetDirectories(Templates, ".tmp-*").FirstOrDefault(d => File.Exists(Path.Combine(d, "state")))
                : null;
            if (saving is null)
            {
                await Task.Delay(5);
            }
        }
        Assert.True(saving is not null, $"no template was being saved (made: {string.Join(", ", Finished())}; the run: {(first.IsCompleted ? first.Result.ToString() : "still running")})");
        await PublishedDaemon.KillAsync(_daemon!);
        _daemon = null;
        await first;
        Assert.Empty(Finished());
        Assert.True(Directory.Exists(saving), "the half-saved template is still there for the next daemon to sweep");

        // 2. The next daemon sweeps the half template (and its QEMU), never restores it, and this start makes a whole one.
        await StartDaemonAsync();
        var made = await CliAsync("run", "--name", "vt24b-made", "--tier", "vm", Image, "--", "echo", "fresh");
        Assert.True(made.Code == 0, made.Stderr);
        Assert.Contains("fresh", made.Stdout, StringComparison.Ordinal);
        Assert.False(Directory.Exists(saving), $"{saving} was not swept");
        Assert.False(RunsWith(saving + "/"), "the killed daemon's template QEMU still runs");
        var how = await HowStartedAsync("vt24b-made");
        Assert.True(how.StartsWith("template ", StringComparison.Ordinal) && how.EndsWith(" (made by this start)", StringComparison.Ordinal), how);
        var key = how.Split(' ')[1];
        Assert.Equal(32, key.Length);
        var dir = Path.Combine(Templates, key);
        Assert.Equal([dir], Finished());
        Assert.Contains($"template {key} (made by this start)", await OkAsync("inspect", "vt24b-made"), StringComparison.Ordinal);

        // 3. The next VM (create, then start) restores it: the template value names the key and nothing else.
        await OkAsync("create", "--name", "vt24b-restored", "--tier", "vm", Image, "--", "sh", "-c", "echo restored $(hostname)");
        await OkAsync("start", "vt24b-restored");
        Assert.Equal("0", (await OkAsync("wait", "vt24b-restored")).Trim());
        Assert.Contains("restored vt24b-restored", await OkAsync("logs", "vt24b-restored"), StringComparison.Ordinal);
        Assert.Equal($"template {key}", await HowStartedAsync("vt24b-restored"));

        // The VM whose start the kill cut short is still only created; its first start now restores the whole template.
        Assert.Equal("created", JsonDocument.Parse(await OkAsync("inspect", "--json", "vt24b-killed")).RootElement.GetProperty("state").GetString());
        await OkAsync("start", "vt24b-killed");
        Assert.Equal("0", (await OkAsync("wait", "vt24b-killed")).Trim());
        Assert.Contains("never", await OkAsync("logs", "vt24b-killed"), StringComparison.Ordinal);
        Assert.Equal($"template {key}", await HowStartedAsync("vt24b-killed"));

        // 4. image ls: the template with its image, its tier and its size (the table too).
        var listed = Assert.Single(await ListedTemplatesAsync());
        Assert.Equal(key, listed.GetProperty("key").GetString());
        Assert.Equal("vm", listed.GetProperty("tier").GetString());
        Assert.True(listed.GetProperty("sizeBytes").GetInt64() > 1024 * 1024, listed.ToString());
        Assert.Matches(@"vm \d+M: [0-9.]+ MiB", await OkAsync("image", "ls"));

        // 5. A second project's token: the image and its template are shared and listed for it (docs/security.md,
        //    "Images: shared, read-only for tenants"), the project's VMs are not; removing or pruning is refused (403).
        using (var admin = new StrataClient(new ClientOptions { Socket = Socket }))
        {
            await admin.CreateProjectAsync(new CreateProjectRequest { Name = "vt24b-other" });
            var other = (await admin.CreateTokenAsync("vt24b-other", "admin")).Token!;
            Assert.Equal(key, Assert.Single(await ListedTemplatesAsync(other)).GetProperty("key").GetString());
            Assert.NotEqual(0, (await CliAsAsync(other, "inspect", "vt24b-made")).Code);
            var rm = await CliAsAsync(other, "image", "rm", Image);
            Assert.True(rm.Code != 0 && rm.Stderr.Contains("is for host administrators", StringComparison.Ordinal), $"{rm.Code}: {rm.Stderr}");
            var prune = await CliAsAsync(other, "image", "prune");
            Assert.True(prune.Code != 0 && prune.Stderr.Contains("is for host administrators", StringComparison.Ordinal), $"{prune.Code}: {prune.Stderr}");
            using var otherClient = new StrataClient(new ClientOptions { Socket = Socket, Token = other });
            Assert.Equal(ErrorKind.Forbidden, (await Assert.ThrowsAsync<StrataApiException>(() => otherClient.PruneImagesAsync())).Kind);
            Assert.Equal(ErrorKind.Forbidden, (await Assert.ThrowsAsync<StrataApiException>(() => otherClient.RemoveImageAsync(Image, force: true))).Kind);
            Assert.True(File.Exists(Path.Combine(dir, "template.json")), "a project's token removed the host's template");
        }

        // 6. --no-template boots cold and says so.
        var cold = await CliAsync("run", "--name", "vt24b-cold", "--no-template", "--tier", "vm", Image, "--", "echo", "cold");
        Assert.True(cold.Code == 0, cold.Stderr);
        Assert.Equal("cold boot: asked for (--no-template)", await HowStartedAsync("vt24b-cold"));

        // A --disposable VM restores the template at every start, on a fresh disk each time.
        await OkAsync("create", "--name", "vt24b-disposable", "--disposable", "--tier", "vm", Image, "--", "sh", "-c",
            "cat /vt24b-seen 2>/dev/null && echo SEEN; echo x > /vt24b-seen; sync; echo ran");
        for (var run = 1; run <= 2; run++)
        {
            await OkAsync("start", "vt24b-disposable");
            Assert.Equal("0", (await OkAsync("wait", "vt24b-disposable")).Trim());
            Assert.Equal($"template {key}", await HowStartedAsync("vt24b-disposable"));
        }
        var disposableLogs = await OkAsync("logs", "vt24b-disposable");
        Assert.Equal(2, disposableLogs.Split('\n').Count(l => l == "ran"));
        Assert.DoesNotContain("SEEN", disposableLogs, StringComparison.Ordinal);

        // 7. prune removes the template (the next first start makes it again); image rm of the image's last name removes it.
        foreach (var name in (string[])["vt24b-killed", "vt24b-made", "vt24b-restored", "vt24b-cold", "vt24b-disposable"])
        {
            await OkAsync("rm", "-f", name);
        }
        var pruned = JsonDocument.Parse(await OkAsync("image", "prune", "--json")).RootElement;
        Assert.Equal(1, pruned.GetProperty("templatesRemoved").GetInt32());
        Assert.False(Directory.Exists(dir));
        Assert.Empty(await ListedTemplatesAsync());
        var again = await CliAsync("run", "--rm", "--name", "vt24b-again", "--tier", "vm", Image, "--", "echo", "again");
        Assert.True(again.Code == 0, again.Stderr);
        Assert.True(File.Exists(Path.Combine(dir, "template.json")), "the start after prune made no template");
        await OkAsync("image", "rm", Image);
        Assert.False(Directory.Exists(dir), "image rm left the image's template");
        Assert.Empty(Finished());

        // 8. The daemon flag: every start boots cold, with the reason, and no template is made.
        await StopDaemonAsync();
        await StartDaemonAsync("--no-vm-templates");
        await OkAsync("image", "build-base", "busybox");
        var off = await CliAsync("run", "--name", "vt24b-off", "--tier", "vm", Image, "--", "echo", "off");
        Assert.True(off.Code == 0, off.Stderr);
        Assert.Equal("cold boot: templates are off for this daemon (--no-vm-templates)", await HowStartedAsync("vt24b-off"));
        Assert.Empty(Finished());
        Assert.Empty(await ListedTemplatesAsync());
        await OkAsync("rm", "-f", "vt24b-off");
    }

    public void Dispose()
    {
        if (_daemon is { HasExited: false })
        {
            _daemon.Kill();
            _daemon.WaitForExit();
        }
        // Anything still running from this root (a template boot, a VM's QEMU or supervisor).
        ProcessCensus.KillNaming(_temp.Path + "/");
        _temp.Dispose();
    }
}
