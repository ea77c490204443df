using System.Diagnostics;
using System.Text.Json;
using Strata.Client;
using Strata.Contracts;
using Xunit;

namespace Strata.Testing;

/// <summary>
/// Whether a daemon's records match what is really on the host: no runtime container, mount or process exists for
/// an instance that is not recorded <c>running</c>, and every instance recorded <c>running</c> really runs.
/// </summary>
public static class InstanceReality
{
    /// <summary>Fails naming every mismatch between the instances <paramref name="clients"/> list (one per project) and the host.</summary>
    public static async Task AssertRecordsMatchAsync(IEnumerable<StrataClient> clients, string root)
    {
        var instances = new List<InstanceInfo>();
        foreach (var client in clients)
        {
            instances.AddRange((await client.ListAsync()).Items);
        }
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

    /// <summary>How many instances named <paramref name="prefix"/>… are running; 0 while the daemon does not answer.</summary>
    public static int RunningCount(StrataClient client, string prefix)
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
}
