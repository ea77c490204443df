using System.Diagnostics;
using Strata.Client;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Container.Tests;

/// <summary>
/// <c>kill -9</c> of the daemon while many containers are being created and started: after the restart every
/// instance's record matches what is really on the host. No runtime container, process or mount may exist for an
/// instance that is not recorded <c>running</c>, and every instance recorded <c>running</c> really runs.
/// Drives the published stratad (scripts/publish-native.sh), as an operator's crash would.
/// </summary>
[Collection(ContainerCollection.Name)]
public sealed class CrashDuringCreateTests(ContainerFixture fx)
{
    private const int Concurrent = 16;
    private const int Rounds = 3;

    [SkippableFact]
    public async Task DaemonKilledDuringConcurrentCreates_EveryRecordMatchesReality_AfterRestart()
    {
        fx.RequireEngine();
        _ = PublishedDaemon.Binary;
        var root = Path.Combine(fx.Root, "crash");
        var socket = Path.Combine(fx.Root, "crash.sock");
        var daemon = await StartDaemonAsync(root, socket);
        var client = new StrataClient(new ClientOptions { Socket = socket });
        try
        {
            for (var round = 0; round < Rounds; round++)
            {
                var prefix = $"crash{round}-";
                await PublishedDaemon.KillDuringCreatesAsync(daemon, client, prefix, Enumerable.Range(0, Concurrent)
                    .Select(i => new InstanceSpec { Name = prefix + i, Tier = "container", Image = "busybox", Args = ["sleep", "600"] }));

                daemon = await StartDaemonAsync(root, socket);
                client.Dispose();
                client = new StrataClient(new ClientOptions { Socket = socket });
                await InstanceReality.AssertRecordsMatchAsync([client], root);
            }
        }
        finally
        {
            try
            {
                foreach (var instance in (await client.ListAsync()).Items)
                {
                    await client.DeleteAsync(instance.Name, force: true);
                }
            }
            finally
            {
                client.Dispose();
                await PublishedDaemon.KillAsync(daemon);
            }
        }
    }

    private Task<Process> StartDaemonAsync(string root, string socket) =>
        PublishedDaemon.StartAsync(socket, ["--root", root, "--socket", socket, "--image", $"busybox={fx.Rootfs}", "--supervisor", fx.Supervisor!]);
}
