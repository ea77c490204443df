using System.Diagnostics;
using System.Text.Json;
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
        var stratad = Path.Combine(TestEnvironment.ArtifactsBin, "stratad");
        TestEnvironment.Require(File.Exists(stratad), $"{stratad} is missing; run scripts/publish-native.sh");
        var root = Path.Combine(fx.Root, "crash");
        var socket = Path.Combine(fx.Root, "crash.sock");
        var daemon = await StartDaemonAsync(stratad, root, socket);
        var client = new StrataClient(new ClientOptions { Socket = socket });
        try
        {
            for (var round = 0; round < Rounds; round++)
            {
                var prefix = $"crash{round}-";
                var creates = Enumerable.Range(0, Concurrent).Select(i => Task.Run(async () =>
                {
                    try
                    {
                        await client.CreateAsync(new InstanceSpec { Name = prefix + i, Tier = "container", Image = "busybox", Args = ["sleep", "600"] });
                    }
                    catch (Exception e) when (e is StrataApiException or DaemonUnreachableException or HttpRequestException or IOException or TaskCanceledException)
                    {
                        // the daemon was killed under it
                    }
                })).ToList();
                // Killed as soon as the first of them runs: the others are between create and start, or starting.
                await TestEnvironment.EventuallyAsync(() => RunningCount(client, prefix) > 0, TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(10));
                daemon.Kill();
                await daemon.WaitForExitAsync();
                daemon.Dispose();
                await Task.WhenAll(creates);

                daemon = await StartDaemonAsync(stratad, root, socket);
                client.Dispose();
                client = new StrataClient(new ClientOptions { Socket = socket });
                await AssertRecordsMatchRealityAsync(client, root);
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
                daemon.Kill();
                await daemon.WaitForExitAsync();
                daemon.Dispose();
            }
        }
    }

    private static int RunningCount(StrataClient client, string prefix)
    {
        try
        {
            return client.ListAsync().GetAwaiter().GetResult().Items.Count(i => i.Name.StartsWith(prefix, StringComparison.Ordinal) && i.State == "running");
        }
        catch (Exception e) when (e is StrataApiException or DaemonUnreachableException or HttpRequestException or IOException)
        {
            return 0;
        }
    }

    private static async Task AssertRecordsMatchRealityAsync(StrataClient client, string root)
    {
        var instances = (await client.ListAsync()).Items;
        var byId = instances.ToDictionary(i => i.Id);
        var problems = new List<string>();

        // Every runtime container belongs to an instance recorded running, and every running instance has one.
        var containers = RuntimeContainers(Path.Combine(root, "run", "oci", Path.GetFileName(OciRuntimeName())));
        foreach (var (id, status) in containers)
        {
            if (!byId.TryGetValue(id, out var owner) || owner.State != "running")
            {
                problems.Add($"runtime container {id} ({status}) belongs to {(owner is null ? "no instance" : $"{owner.Name}, recorded {owner.State}")}");
            }
        }
        foreach (var running in instances.Where(i => i.State == "running"))
        {
            if (!containers.TryGetValue(running.Id, out var status) || status != "running")
            {
                problems.Add($"{running.Name} ({running.Id}) is recorded running but its runtime container is {status ?? "missing"}");
            }
            if (running.Pid is not { } pid || !Directory.Exists($"/proc/{pid}"))
            {
                problems.Add($"{running.Name} is recorded running but its pid {running.Pid} is gone");
            }
        }

        // No mount or process under an instance directory unless that instance runs.
        var instancesDir = Path.Combine(root, "instances") + "/";
        foreach (var point in File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4]).Where(m => m.StartsWith(instancesDir, StringComparison.Ordinal)))
        {
            var id = point[instancesDir.Length..].Split('/')[0];
            if (!byId.TryGetValue(id, out var owner) || owner.State != "running")
            {
                problems.Add($"mount {point} belongs to {(owner is null ? "no instance" : $"{owner.Name}, recorded {owner.State}")}");
            }
        }
        foreach (var (pid, path) in ProcessesHoldingFilesUnder(instancesDir))
        {
            var id = path[instancesDir.Length..].Split('/')[0];
            if (!byId.TryGetValue(id, out var owner) || owner.State != "running")
            {
                problems.Add($"process {pid} holds {path} of {(owner is null ? "no instance" : $"{owner.Name}, recorded {owner.State}")}");
            }
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems)
            + "\nruntime containers: " + string.Join(", ", containers.Select(c => $"{c.Key} {c.Value}"))
            + "\nstates: " + string.Join(", ", instances.GroupBy(i => i.State).Select(g => $"{g.Key} {g.Count()}")));
    }

    /// <summary>The runtime's containers (a state directory each, as the driver sees them) and their status.</summary>
    private static Dictionary<string, string> RuntimeContainers(string stateRoot)
    {
        var containers = new Dictionary<string, string>();
        foreach (var dir in Directory.Exists(stateRoot) ? Directory.GetDirectories(stateRoot) : [])
        {
            var id = Path.GetFileName(dir);
            var psi = new ProcessStartInfo(OciRuntimeName(), ["--root", stateRoot, "state", id]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = Process.Start(psi)!;
            var output = p.StandardOutput.ReadToEnd();
            var errors = p.StandardError.ReadToEnd();
            p.WaitForExit();
            containers[id] = p.ExitCode == 0 ? JsonDocument.Parse(output).RootElement.GetProperty("status").GetString()! : "unreadable: " + errors.Trim();
        }
        return containers;
    }

    private static string OciRuntimeName() => TestEnvironment.Which("runc") ?? TestEnvironment.Which("crun") ?? "runc";

    private static IEnumerable<(int Pid, string Path)> ProcessesHoldingFilesUnder(string prefix)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }
            string[] fds;
            try
            {
                fds = Directory.GetFileSystemEntries(Path.Combine(dir, "fd"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            foreach (var fd in fds)
            {
                string? target = null;
                try
                {
                    target = new FileInfo(fd).LinkTarget;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                }
                if (target is not null && target.StartsWith(prefix, StringComparison.Ordinal))
                {
                    yield return (pid, target);
                    break;
                }
            }
        }
    }

    private async Task<Process> StartDaemonAsync(string stratad, string root, string socket)
    {
        var psi = new ProcessStartInfo(stratad)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in (string[])["--root", root, "--socket", socket, "--image", $"busybox={fx.Rootfs}", "--supervisor", fx.Supervisor!])
        {
            psi.ArgumentList.Add(a);
        }
        var daemon = Process.Start(psi)!;
        daemon.OutputDataReceived += (_, _) => { };
        daemon.ErrorDataReceived += (_, _) => { };
        daemon.BeginOutputReadLine();
        daemon.BeginErrorReadLine();
        using var probe = new StrataClient(new ClientOptions { Socket = socket });
        var up = await TestEnvironment.EventuallyAsync(() =>
        {
            try
            {
                probe.InfoAsync().GetAwaiter().GetResult();
                return true;
            }
            catch (Exception e) when (e is StrataApiException or DaemonUnreachableException or HttpRequestException or IOException)
            {
                return false;
            }
        }, TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(100));
        Assert.True(up, "stratad did not come up within 2 minutes");
        return daemon;
    }
}
