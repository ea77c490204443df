using Microsoft.Extensions.Logging;
using Strata.Client;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Daemon.Tests;

/// <summary>
/// The data root at start-up: an install with the old, loose modes is repaired (and says so), so that another
/// local user reads nothing; leftovers of interrupted operations are swept, and nothing else is touched.
/// </summary>
public sealed class DataRootTests : IDisposable
{
    private const UnixFileMode Loose = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode LooseDir = Loose | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    // Its parent is 0755 (as /var/lib is): only the data root's own modes may protect what is inside.
    private readonly TempDirectory _dir = new("strata-root");

    private string Root => _dir.Combine("root");
    private string Socket => _dir.Combine("s.sock");

    public void Dispose() => _dir.Dispose();

    private async Task<DaemonHost> StartAsync(LogCapture? capture = null) =>
        await DaemonHost.StartAsync(new DaemonOptions { Root = Root, Socket = Socket, EnableFakeTier = true }, logging =>
        {
            logging.ClearProviders();
            if (capture is not null)
            {
                logging.AddProvider(capture);
                logging.SetMinimumLevel(LogLevel.Information);
            }
        });

    private async Task<string> CreateInstanceAsync(string name)
    {
        using var client = new StrataClient(new ClientOptions { Socket = Socket });
        var info = await client.CreateAsync(new InstanceSpec
        {
            Name = name, Tier = "fake", Args = ["echo", "the-secret-output"], Env = new Dictionary<string, string> { ["PASSWORD"] = "hunter2" },
        });
        await client.WaitAsync(name);
        return info.Id;
    }

    [SkippableFact]
    public async Task OldInstallWithLooseModes_IsRepairedAtStart_AndAnotherUserReadsNothing()
    {
        File.SetUnixFileMode(_dir.Path, LooseDir);
        string id;
        await using (var _ = await StartAsync())
        {
            id = await CreateInstanceAsync("secretive");
        }
        var instance = Path.Combine(Root, "instances", id);
        Assert.True(File.Exists(Path.Combine(instance, "logs", "current.log")));
        // What an older version left: a traversable root, world-readable store, environment and output.
        File.WriteAllText(Path.Combine(instance, "config.json"), """{"process":{"env":["PASSWORD=hunter2"]}}""");
        foreach (var dir in new[] { Path.Combine(Root, "instances"), instance, Path.Combine(instance, "logs") })
        {
            File.SetUnixFileMode(dir, LooseDir);
        }
        File.SetUnixFileMode(Root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        foreach (var file in new[] { "state.db", "state.db-wal", "state.db-shm" }.Select(f => Path.Combine(Root, f))
            .Concat([Path.Combine(instance, "config.json"), Path.Combine(instance, "logs", "current.log")]).Where(File.Exists))
        {
            File.SetUnixFileMode(file, Loose);
        }

        var capture = new LogCapture();
        await using (var _ = await StartAsync(capture))
        {
            var repaired = capture.Lines.Where(l => l.Contains("data root permissions repaired", StringComparison.Ordinal)).ToList();
            var line = Assert.Single(repaired);
            Assert.StartsWith("Warning", line, StringComparison.Ordinal);
            Assert.Contains(Path.Combine(instance, "config.json") + " 0644 -> 0600", line, StringComparison.Ordinal);
            Assert.Contains(Path.Combine(Root, "state.db") + " 0644 -> 0600", line, StringComparison.Ordinal);

            var (rootMode, _) = DataRootPermissions.RootMode();
            Assert.Equal(rootMode, File.GetUnixFileMode(Root));
            const UnixFileMode privateDir = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
            const UnixFileMode privateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            foreach (var dir in new[] { Path.Combine(Root, "instances"), instance, Path.Combine(instance, "logs"), Path.Combine(Root, "images") })
            {
                Assert.Equal(privateDir, File.GetUnixFileMode(dir));
            }
            foreach (var file in new[] { Path.Combine(Root, "state.db"), Path.Combine(instance, "config.json"), Path.Combine(instance, "logs", "current.log") })
            {
                Assert.Equal(privateFile, File.GetUnixFileMode(file));
            }
            foreach (var file in new[] { "state.db-wal", "state.db-shm" }.Select(f => Path.Combine(Root, f)).Where(File.Exists))
            {
                Assert.Equal(UnixFileMode.None, File.GetUnixFileMode(file) & ~privateFile);
            }

            using var user = UnprivilegedUser.Create();
            // The root itself can be seen (its parent is open) but not listed, read, written or passed through.
            Assert.Equal(["s " + Root], user.Reachable([Root]));
            Assert.Empty(user.Reachable(UnprivilegedUser.Census(Root)));
            var read = user.Run("/bin/cat", [Path.Combine(instance, "config.json"), Path.Combine(Root, "state.db")]);
            Assert.NotEqual(0, read.ExitCode);
            Assert.DoesNotContain("hunter2", read.Stdout, StringComparison.Ordinal);
            Assert.Contains("Permission denied", read.Stderr, StringComparison.Ordinal);
        }

        // A healthy install is left alone, and says nothing.
        var again = new LogCapture();
        await using (var _ = await StartAsync(again))
        {
            Assert.DoesNotContain(again.Lines, l => l.Contains("permissions repaired", StringComparison.Ordinal));
        }
    }

    /// <summary>
    /// A member of the <c>strata</c> group reaches the daemon through its socket and nothing else: it may pass through
    /// the root (0710 root:strata) to the names it already knows, but list, read, write or run nothing below it.
    /// The group is host-wide, so the test makes it only where it is missing and removes what it made; the tests of
    /// this class run one at a time, so none of them sees the root's mode change under it.
    /// </summary>
    [SkippableFact]
    public async Task StrataGroupMember_ReadsNothingUnderTheRoot_ButUsesTheApi()
    {
        var cli = TestEnvironment.RequireArtifact("strata");
        TestEnvironment.Require(TestEnvironment.Which("groupadd") is not null, "groupadd (passwd) is needed to make the strata group");
        using var group = HostGroup.Ensure(DataRootPermissions.GroupName);
        File.SetUnixFileMode(_dir.Path, LooseDir); // as /var/lib and /run are: only the root's own modes protect it
        var copy = _dir.Combine("strata"); // the user may not reach the build's folder; a copy it can run
        File.Copy(cli, copy);
        File.SetUnixFileMode(copy, LooseDir);

        await using var _ = await StartAsync();
        var id = await CreateInstanceAsync("secretive");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute, File.GetUnixFileMode(Root));

        using var user = UnprivilegedUser.Create();
        user.Group = group.Gid;
        Assert.Equal(["sx " + Root], user.Reachable([Root]));
        // Below the root: names can be looked up (the group may pass through the root), nothing opened.
        Assert.All(user.Reachable(UnprivilegedUser.Census(Root)), line => Assert.StartsWith("s ", line, StringComparison.Ordinal));
        var read = user.Run("/bin/cat", [Path.Combine(Root, "instances", id, "config.json"), Path.Combine(Root, "state.db"), Path.Combine(Root, "instances", id, "logs", "current.log")]);
        Assert.NotEqual(0, read.ExitCode);
        Assert.DoesNotContain("hunter2", read.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("the-secret-output", read.Stdout, StringComparison.Ordinal);

        // Through the API the member is the host administrator's client (the socket is 0660 root:strata).
        var ps = user.Run(copy, ["--socket", Socket, "ps", "-a", "--json"]);
        Assert.True(ps.ExitCode == 0, $"strata ps as a strata group member failed: {ps.Stderr}");
        Assert.Contains("secretive", ps.Stdout, StringComparison.Ordinal);
        var logs = user.Run(copy, ["--socket", Socket, "logs", "secretive"]);
        Assert.Contains("the-secret-output", logs.Stdout, StringComparison.Ordinal);

        // Without the group, the same user reaches not even the socket.
        user.Group = null;
        var outsider = user.Run(copy, ["--socket", Socket, "ps", "-a", "--json"]);
        Assert.NotEqual(0, outsider.ExitCode);
        Assert.DoesNotContain("secretive", outsider.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NewInstall_IsPrivateFromTheStart()
    {
        var capture = new LogCapture();
        await using (var _ = await StartAsync(capture))
        {
            var id = await CreateInstanceAsync("fresh");
            Assert.Equal(DataRootPermissions.RootMode().Mode, File.GetUnixFileMode(Root));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(Root, "state.db")));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.Combine(Root, "instances", id)));
        }
        Assert.DoesNotContain(capture.Lines, l => l.Contains("permissions repaired", StringComparison.Ordinal));
    }

    [Fact]
    public async Task PathsMadeWhileRunning_ArePrivateAtOnce_AndTheNextStartRepairsNothing()
    {
        const UnixFileMode PrivateDir = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        var module = _dir.Combine("exit0.wat");
        await File.WriteAllTextAsync(module, """(module (func (export "_start")))""");
        await using (var _ = await StartAsync())
        {
            using var client = new StrataClient(new ClientOptions { Socket = Socket });
            // strata bench's results and a wasm module's compiled cache are made while the daemon runs.
            await client.SaveBenchResultsAsync("""{"tiers":{"process":{"startMedianMs":5.0}}}""");
            await client.CreateAsync(new InstanceSpec { Name = "compiled", Tier = "wasm", Image = module });
            await client.WaitAsync("compiled");

            Assert.Equal(PrivateDir, File.GetUnixFileMode(Path.Combine(Root, "bench")));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(Root, "bench", "results.json")));
            Assert.NotEmpty(Directory.GetFiles(Path.Combine(Root, "cache", "wasm"), "*.cwasm"));
            foreach (var dir in new[] { "cache/wasm", "cache/guest", "images/disks", "networks/ipam" })
            {
                Assert.Equal(PrivateDir, File.GetUnixFileMode(Path.Combine(Root, dir)));
            }
            // The model holds while the daemon runs: the start-up check would have nothing to change.
            Assert.Empty(DataRootPermissions.Enforce(Root));
        }
        var capture = new LogCapture();
        await using (var _ = await StartAsync(capture))
        {
        }
        Assert.DoesNotContain(capture.Lines, l => l.Contains("permissions repaired", StringComparison.Ordinal));
    }

    [Fact]
    public async Task TemporaryLeftoversOfInterruptedOperations_AreSweptAtStart_AndNothingElse()
    {
        string id;
        await using (var _ = await StartAsync())
        {
            id = await CreateInstanceAsync("snappy");
        }
        var instance = Path.Combine(Root, "instances", id);
        string Plant(string relative, int bytes = 1000)
        {
            var path = Path.Combine(Root, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, new byte[bytes]);
            return path;
        }
        // What a crash leaves: a snapshot being written (no NAME.json), a layer being unpacked, a blob being
        // downloaded, an uploaded archive being imported, disk and cache files being built, a state file being replaced.
        var leftovers = new[]
        {
            Plant($"instances/{id}/snapshots/half/upper.tar.tmp", 1_500_000),
            Plant("images/layers/.tmp-0123456789abcdef/bin/sh"),
            Plant("images/blobs/.tmp/0123456789abcdef"),
            Plant("images/.import-0123456789abcdef"),
            Plant("images/disks/debian.qcow2.tmp"),
            Plant("cache/guest/disks/abc.ext4.4242.tmp"),
            Plant("cache/wasm/module.cwasm.4242.tmp"),
            Plant("networks/state.json.tmp"),
        };
        // What must stay: a finished snapshot, image content and an instance's own files, whatever their names.
        var kept = new[]
        {
            Plant($"instances/{id}/snapshots/done/upper.tar"),
            Plant($"instances/{id}/snapshots/done.json"),
            Plant("images/layers/" + new string('a', 64) + "/var/cache.tmp"),
            Plant($"instances/{id}/rootfs-upper/work.tmp"),
            Plant($"instances/{id}/exit.json.tmp"),
        };

        var capture = new LogCapture();
        await using (var _ = await StartAsync(capture))
        {
            foreach (var path in leftovers)
            {
                Assert.False(File.Exists(path), $"{path} was left");
            }
            Assert.False(Directory.Exists(Path.Combine(instance, "snapshots", "half")));
            Assert.False(Directory.Exists(Path.Combine(Root, "images/layers/.tmp-0123456789abcdef")));
            foreach (var path in kept)
            {
                Assert.True(File.Exists(path), $"{path} was removed");
            }
            var line = Assert.Single(capture.Lines, l => l.Contains("start-up sweep removed", StringComparison.Ordinal));
            Assert.Contains($"removed {leftovers.Length} temporary artefacts", line, StringComparison.Ordinal);
            Assert.Contains("snapshots/half", line, StringComparison.Ordinal);
        }
    }
}
