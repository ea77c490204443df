using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Strata.Client;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Container.Tests;

/// <summary>
/// A cold move carries the Strata-managed volumes a container mounts (two published stratad, real runc, volumes made
/// through each daemon's Docker API socket): a target holding a volume of the same name with other content refuses
/// before anything stops, and both sides stay as they were; moved, the volume's file is in the target's volume for
/// the same project and the container reads it there, the source keeps no volume another instance does not use, and
/// a second project on the target neither sees nor mounts it.
/// </summary>
[Collection(ContainerCollection.Name)]
public sealed class ColdMoveVolumeTests(ContainerFixture fx)
{
    private static readonly string s_tag = string.Concat(Enumerable.Range(0, 4).Select(_ => (char)('a' + Random.Shared.Next(26))));

    private const string Write =
        "[ -f /data/hello ] || { echo moved-data > /data/hello && chown 1234:5678 /data/hello && chmod 0640 /data/hello; }; " +
        "[ -f /shared/note ] || echo shared-note > /shared/note; exec sleep 600";

    [SkippableFact]
    public async Task ColdMove_CarriesManagedVolumes_RefusesAConflictingOne_AndAnotherProjectSeesNone()
    {
        fx.RequireEngine();
        _ = PublishedDaemon.Binary;
        var a = Path.Combine(fx.Root, $"vol-{s_tag}-a");
        var b = Path.Combine(fx.Root, $"vol-{s_tag}-b");
        var port = TestEnvironment.FreeLoopbackPort();
        Process? source = null;
        Process? target = null;
        try
        {
            source = await ColdMoveModesTests.StartDaemonAsync(fx, a, $"mv30v{s_tag}a", null, ["--docker-socket", a + ".docker.sock"]);
            target = await ColdMoveModesTests.StartDaemonAsync(fx, b, $"mv30v{s_tag}b", port,
                ["--docker-socket", b + ".docker.sock", "--docker-socket", b + ".other.sock", "--project", "mv30other"]);
            using var sourceClient = new StrataClient(new ClientOptions { Socket = a + ".sock" });
            using var targetClient = new StrataClient(new ClientOptions { Socket = b + ".sock" });
            using var sourceDocker = Docker(a + ".docker.sock");
            using var targetDocker = Docker(b + ".docker.sock");
            using var otherDocker = Docker(b + ".other.sock");
            await targetClient.CreateProjectAsync(new CreateProjectRequest { Name = "mv30other" });

            var data = await CreateVolumeAsync(sourceDocker, "data", """{"team":"mv30","tier":"gold"}""");
            var shared = await CreateVolumeAsync(sourceDocker, "shared");
            await sourceClient.CreateAsync(new InstanceSpec
            {
                Tier = "container", Image = "busybox", Name = "app", Args = ["sh", "-c", Write],
                Mounts = [new MountSpec { Source = data, Target = "/data" }, new MountSpec { Source = shared, Target = "/shared" }],
            });
            // Another instance here mounts "shared" only: that volume is carried but stays here too.
            await sourceClient.CreateAsync(new InstanceSpec
            {
                Tier = "container", Image = "busybox", Name = "keeper", Args = ["sleep", "600"], Mounts = [new MountSpec { Source = shared, Target = "/shared" }],
            });
            const string Stat = "cat /data/hello /shared/note && stat -c '%a %u:%g' /data/hello";
            var before = "";
            Assert.True(await TestEnvironment.EventuallyAsync(async () =>
            {
                var (code, output) = await InstanceOutput.ExecAsync(sourceClient, "app", Stat);
                before = output;
                return code == 0;
            }, TimeSpan.FromSeconds(120), TimeSpan.FromMilliseconds(250)), $"the volumes' files were never written: {before}");
            Assert.Equal("moved-datashared-note640 1234:5678", before); // the exec output without its newlines
            var token = File.ReadAllText(Path.Combine(b, "admin.token")).Trim();
            var move = new MoveRequest { ToAddress = $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}", ToToken = token, Mode = "cold" };

            // The target already has a "data" volume with other files: refused before the stop, nothing changes on either side.
            var theirs = await CreateVolumeAsync(targetDocker, "data");
            File.WriteAllText(Path.Combine(theirs, "other"), "theirs");
            var refused = await ColdMoveModesTests.MoveAndWaitAsync(sourceClient, "app", move);
            Assert.Equal(OperationStatusNames.Failed, refused.Status);
            Assert.Contains("volume 'data'", refused.Error!.Detail, StringComparison.Ordinal);
            Assert.Contains("docker volume rm data", refused.Error.Detail, StringComparison.Ordinal);
            var app = await sourceClient.GetAsync("app");
            Assert.Equal("running", app.State);
            Assert.Equal(0, app.RestartCount);
            Assert.Equal(((int?)0, before), await InstanceOutput.ExecAsync(sourceClient, "app", Stat));
            Assert.Empty((await targetClient.ListAsync()).Items);
            Assert.Equal(["other"], Directory.GetFileSystemEntries(theirs).Select(Path.GetFileName));
            Assert.Equal(HttpStatusCode.NotFound, (await targetDocker.GetAsync("/volumes/shared")).StatusCode);
            Assert.True(File.Exists(Path.Combine(data, "hello")));
            Assert.Equal(HttpStatusCode.NoContent, (await targetDocker.DeleteAsync("/volumes/data")).StatusCode);

            // Moved: both volumes arrive in the target's store for the project, the container reads them there.
            var moved = await ColdMoveModesTests.MoveAndWaitAsync(sourceClient, "app", move);
            Assert.True(moved.Status == OperationStatusNames.Succeeded, moved.Error?.Detail ?? moved.Status);
            var result = moved.Result!.Value.Deserialize(StrataJsonContext.Default.MoveResult)!;
            Assert.Equal(["data", "shared"], result.Volumes);
            Assert.Contains("shared (kept here: used by keeper)", result.VolumesKeptHere!);
            Assert.Contains("volumes data, shared", result.Carried, StringComparison.Ordinal);
            var after = "";
            Assert.True(await TestEnvironment.EventuallyAsync(async () =>
            {
                int? code;
                (code, after) = await InstanceOutput.ExecAsync(targetClient, "app", Stat);
                return code == 0;
            }, TimeSpan.FromSeconds(120), TimeSpan.FromMilliseconds(250)), $"the container on the target could not read its volumes: {after}");
            Assert.Equal(before, after);
            var there = await VolumePathAsync(targetDocker, "data");
            Assert.StartsWith(b + "/", there, StringComparison.Ordinal);
            Assert.Equal("moved-data\n", File.ReadAllText(Path.Combine(there, "hello")));
            Assert.Contains(there, (await targetClient.GetAsync("app")).Spec!.Mounts!.Select(m => m.Source));
            // The volume's Docker labels went along.
            using (var volume = JsonDocument.Parse(await targetDocker.GetStringAsync("/volumes/data")))
            {
                var labels = volume.RootElement.GetProperty("Labels");
                Assert.Equal("mv30", labels.GetProperty("team").GetString());
                Assert.Equal("gold", labels.GetProperty("tier").GetString());
            }

            // The source: "data" is gone, "shared" stays for keeper, app is gone.
            Assert.Equal(HttpStatusCode.NotFound, (await sourceDocker.GetAsync("/volumes/data")).StatusCode);
            Assert.False(Directory.Exists(Path.GetDirectoryName(data)));
            Assert.Equal(HttpStatusCode.OK, (await sourceDocker.GetAsync("/volumes/shared")).StatusCode);
            Assert.Equal(["keeper"], (await sourceClient.ListAsync()).Items.Select(i => i.Name));

            // A second project on the target: no such volume in its list or by name, its token cannot remove it nor mount it.
            Assert.DoesNotContain("\"data\"", await otherDocker.GetStringAsync("/volumes"), StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.NotFound, (await otherDocker.GetAsync("/volumes/data")).StatusCode);
            using var other = new StrataClient(new ClientOptions { Socket = b + ".sock", Token = (await targetClient.CreateTokenAsync("mv30other", "admin")).Token! });
            Assert.Empty((await other.ListAsync()).Items);
            Assert.Equal(ErrorKind.NotFound, (await Assert.ThrowsAsync<StrataApiException>(() => other.RemoveMovedVolumeAsync("data"))).Kind);
            await Assert.ThrowsAsync<StrataApiException>(() => other.CreateAsync(new InstanceSpec
            {
                Tier = "container", Image = "busybox", Name = "thief", Args = ["cat", "/data/hello"], Mounts = [new MountSpec { Source = there, Target = "/data" }],
            }));
            Assert.Empty((await other.ListAsync()).Items);
            Assert.Equal("moved-data\n", File.ReadAllText(Path.Combine(there, "hello")));
        }
        finally
        {
            foreach (var (daemon, root) in new[] { (source, a), (target, b) })
            {
                await ColdMoveModesTests.StopAsync(daemon, root);
            }
        }
    }

    /// <summary>An HTTP client on a daemon's Docker API socket.</summary>
    private static HttpClient Docker(string socket) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, ct) =>
        {
            var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await s.ConnectAsync(new UnixDomainSocketEndPoint(socket), ct);
            return new NetworkStream(s, ownsSocket: true);
        },
    })
    { BaseAddress = new Uri("http://docker") };

    private static async Task<string> CreateVolumeAsync(HttpClient docker, string name, string labels = "{}")
    {
        using var content = new StringContent($$"""{"Name":"{{name}}","Labels":{{labels}}}""", Encoding.UTF8, "application/json");
        using var response = await docker.PostAsync("/volumes/create", content);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return await VolumePathAsync(docker, name);
    }

    private static async Task<string> VolumePathAsync(HttpClient docker, string name)
    {
        using var doc = JsonDocument.Parse(await docker.GetStringAsync($"/volumes/{name}"));
        return doc.RootElement.GetProperty("Mountpoint").GetString()!;
    }
}
