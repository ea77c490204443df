using Microsoft.Extensions.Logging;
using Strata.Client;
using Strata.Contracts;
using Strata.Daemon;
using Strata.Testing;

namespace Strata.Container.Tests;

/// <summary>
/// Nothing under the data root is reachable by another local user, on any tier: not the store, not an instance's
/// environment or output, and not a container's root file system, where root inside the container can write a
/// setuid-root program (which, reachable from the host, would make any local user root).
/// </summary>
[Collection(ContainerCollection.Name)]
public sealed class DataRootPermissionTests(ContainerFixture fx)
{
    private const string EmptyModule = """(module (memory (export "memory") 1) (func (export "_start")))""";

    [SkippableFact]
    public async Task AnotherLocalUser_ReachesNothingUnderTheDataRoot_OnAnyTier_NorASetuidProgramInAContainer()
    {
        fx.RequireEngine();
        using var user = UnprivilegedUser.Create();
        var parent = Path.Combine(fx.Root, "perm");
        Directory.CreateDirectory(parent);
        var fixtureMode = File.GetUnixFileMode(fx.Root);
        // Traversable parents (as /var/lib is): only the data root's own modes may protect what is inside.
        const UnixFileMode open = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead
            | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
        File.SetUnixFileMode(fx.Root, open);
        File.SetUnixFileMode(parent, open);
        try
        {
            var root = Path.Combine(parent, "root");
            var socket = Path.Combine(parent, "d.sock");
            var module = Path.Combine(parent, "empty.wat");
            await File.WriteAllTextAsync(module, EmptyModule);
            await using var host = await DaemonHost.StartAsync(new DaemonOptions
            {
                Root = root,
                Socket = socket,
                Supervisor = fx.Supervisor,
                Images = new Dictionary<string, string> { ["busybox"] = fx.Rootfs },
            }, logging => logging.ClearProviders());
            using var client = new StrataClient(new ClientOptions { Socket = socket });
            var secret = new Dictionary<string, string> { ["PASSWORD"] = "hunter2" };

            var container = await client.CreateAsync(new InstanceSpec
            {
                Name = "ctr", Tier = "container", Image = "busybox", Env = secret,
                Args = ["sh", "-c", "mkdir /suid && cp /bin/busybox /suid/sh && chmod 4755 /suid/sh && echo ready; exec sleep 600"],
            });
            var process = await client.CreateAsync(new InstanceSpec { Name = "proc", Tier = "process", Env = secret, Args = ["sh", "-c", "echo output; exec sleep 600"] });
            await client.CreateAsync(new InstanceSpec { Name = "wasm", Tier = "wasm", Image = module, Env = secret });
            await client.WaitAsync("wasm");

            var suid = Path.Combine(root, "instances", container.Id, "rootfs", "suid", "sh");
            Assert.True(await TestEnvironment.EventuallyAsync(() => File.Exists(suid) && (File.GetUnixFileMode(suid) & UnixFileMode.SetUser) != 0,
                TimeSpan.FromSeconds(30)), "the container did not write its setuid program");
            Assert.True(File.Exists(Path.Combine(root, "instances", process.Id, "logs", "current.log")));

            var census = UnprivilegedUser.Census(root);
            Assert.True(census.Count > 100, $"only {census.Count} paths under the root"); // the container's root file system is in it
            Assert.Equal(["s " + root], user.Reachable([root])); // seen in its open parent, but closed
            Assert.Empty(user.Reachable(census));

            // The repro: a setuid-root program from inside a container, run from the host by another user.
            var (code, stdout, stderr) = user.Run(suid, ["-c", "id -u"]);
            Assert.True(code != 0, $"another user ran {suid}: exit {code}, output '{stdout}', errors '{stderr}'");
            Assert.NotEqual("0", stdout.Trim());
            Assert.Contains("Permission denied", stderr, StringComparison.Ordinal);

            foreach (var name in new[] { "ctr", "proc", "wasm" })
            {
                await client.DeleteAsync(name, force: true);
            }
        }
        finally
        {
            File.SetUnixFileMode(fx.Root, fixtureMode);
        }
    }
}
