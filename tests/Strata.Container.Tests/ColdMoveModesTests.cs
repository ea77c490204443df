using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Strata.Client;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Container.Tests;

/// <summary>
/// A cold move carries a container's files as they were: their modes (setuid, setgid and sticky bits included),
/// owners, a symlink and an empty directory, read back on the target (two published stratad, real runc). A second
/// project's token on the target sees none of it.
/// </summary>
[Collection(ContainerCollection.Name)]
public sealed class ColdMoveModesTests(ContainerFixture fx)
{
    private static readonly string s_tag = string.Concat(Enumerable.Range(0, 4).Select(_ => (char)('a' + Random.Shared.Next(26))));

    /// <summary>What the container writes at its first start and what <c>stat</c> reads: path, octal mode, owner:group.</summary>
    private const string Make =
        "mkdir -p /m && cd /m && [ -f done ] || { " +
        "echo x > suid && chmod 4755 suid && " +
        "echo x > sgid && chown 1000:1000 sgid && chmod 2750 sgid && " +
        "mkdir sticky && chmod 1777 sticky && " +
        "echo secret > private && chown 1234:5678 private && chmod 0600 private && " +
        "echo x > ro && chmod 0444 ro && " +
        "mkdir -p empty/dir && chmod 0700 empty && " +
        "ln -s private link && touch done; }; exec sleep 600";

    private const string Stat = "cd /m && stat -c '%n %a %u:%g %F' suid sgid sticky private ro empty empty/dir link";

    [SkippableFact]
    public async Task ColdMove_ContainerFiles_KeepTheirModesOwnersAndLinksOnTheTarget()
    {
        fx.RequireEngine();
        _ = PublishedDaemon.Binary;
        var a = Path.Combine(fx.Root, $"modes-{s_tag}-a");
        var b = Path.Combine(fx.Root, $"modes-{s_tag}-b");
        var port = TestEnvironment.FreeLoopbackPort();
        Process? source = null;
        Process? target = null;
        try
        {
            source = await StartAsync(a, $"mv29m{s_tag}a", null);
            target = await StartAsync(b, $"mv29m{s_tag}b", port);
            using var sourceClient = new StrataClient(new ClientOptions { Socket = a + ".sock" });
            using var targetClient = new StrataClient(new ClientOptions { Socket = b + ".sock" });
            await sourceClient.CreateAsync(new InstanceSpec { Tier = "container", Image = "busybox", Name = "files", Args = ["sh", "-c", Make] });
            var before = "";
            Assert.True(await TestEnvironment.EventuallyAsync(async () =>
            {
                var (code, output) = await InstanceOutput.ExecAsync(sourceClient, "files", Stat);
                before = output;
                return code == 0;
            }, TimeSpan.FromSeconds(120), TimeSpan.FromMilliseconds(250)), $"the files were never made: {before}");
            Assert.Contains("suid 4755 0:0 regular file", before, StringComparison.Ordinal);
            Assert.Contains("private 600 1234:5678", before, StringComparison.Ordinal);

            var token = File.ReadAllText(Path.Combine(b, "admin.token")).Trim();
            var op = await MoveAndWaitAsync(sourceClient, "files", new MoveRequest
            {
                ToAddress = $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}", ToToken = token, Mode = "cold",
            });
            Assert.True(op.Status == OperationStatusNames.Succeeded, op.Error?.Detail ?? op.Status);
            Assert.Equal("cold", op.Result!.Value.Deserialize(StrataJsonContext.Default.MoveResult)!.Mode);

            // The same listing on the target: every mode, special bit, owner and file type came along.
            var (after, afterCode) = ("", (int?)null);
            Assert.True(await TestEnvironment.EventuallyAsync(async () =>
            {
                (afterCode, after) = await InstanceOutput.ExecAsync(targetClient, "files", Stat);
                return afterCode == 0;
            }, TimeSpan.FromSeconds(120), TimeSpan.FromMilliseconds(250)), $"stat failed on the target: {after}");
            Assert.Equal(before, after);
            var (_, secret) = await InstanceOutput.ExecAsync(targetClient, "files", "cat /m/link");
            Assert.Equal("secret", secret);

            // A second project on the target sees none of it.
            await targetClient.CreateProjectAsync(new CreateProjectRequest { Name = "mv29mother" });
            using var other = new StrataClient(new ClientOptions { Socket = b + ".sock", Token = (await targetClient.CreateTokenAsync("mv29mother", "admin")).Token! });
            Assert.Empty((await other.ListAsync()).Items);
            Assert.Equal(ErrorKind.NotFound, (await Assert.ThrowsAsync<StrataApiException>(() => InstanceOutput.ExecAsync(other, "files", "true"))).Kind);
        }
        finally
        {
            foreach (var (daemon, root) in new[] { (source, a), (target, b) })
            {
                await StopAsync(daemon, root);
            }
        }
    }

    private Task<Process> StartAsync(string root, string node, int? listen) => StartDaemonAsync(fx, root, node, listen, ["--no-docker-socket"]);

    /// <summary>A published stratad on <paramref name="root"/> (its socket beside it) with busybox, listening on <paramref name="listen"/> if given.</summary>
    /// <summary>Moves <paramref name="name"/> and follows the operation until it ends (at most 5 minutes).</summary>
    internal static async Task<OperationInfo> MoveAndWaitAsync(StrataClient client, string name, MoveRequest move)
    {
        var op = await client.MoveAsync(name, move);
        var clock = Stopwatch.StartNew();
        while (!OperationStatusNames.IsFinished(op.Status) && clock.Elapsed < TimeSpan.FromMinutes(5))
        {
            op = await client.WaitOperationAsync(op.Id, TimeSpan.FromSeconds(30));
        }
        return op;
    }

    /// <summary>A published daemon; <paramref name="busyboxDirectory"/> false leaves out the fixture's busybox directory image (its image store alone resolves images).</summary>
    internal static async Task<Process> StartDaemonAsync(ContainerFixture fx, string root, string node, int? listen, IEnumerable<string> dockerSockets, bool busyboxDirectory = true)
    {
        List<string> args =
        [
            "--root", root, "--socket", root + ".sock", "--node", node, .. dockerSockets, "--log-max-size", "1M", "--supervisor", fx.Supervisor!,
        ];
        if (busyboxDirectory)
        {
            args.AddRange(["--image", $"busybox={fx.Rootfs}"]);
        }
        if (listen is { } port)
        {
            args.AddRange(["--listen", $"127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}"]);
        }
        return await PublishedDaemon.StartAsync(root + ".sock", args);
    }

    /// <summary>Removes every instance of the daemon's default project and stops it.</summary>
    internal static async Task StopAsync(Process? daemon, string root)
    {
        if (daemon is null)
        {
            return;
        }
        using (var client = new StrataClient(new ClientOptions { Socket = root + ".sock" }))
        {
            await PublishedDaemon.RemoveInstancesAsync(client);
        }
        await PublishedDaemon.StopAsync(daemon, TimeSpan.FromSeconds(60), killIfItHangs: false);
    }
}
