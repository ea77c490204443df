using System.Globalization;
using System.Text.Json.Nodes;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Contracts.Host;
using Strata.Node.Cgroups;

namespace Strata.Node.Drivers.Container;

/// <summary>
/// Live resize of a container (docs/rightsizing.md, "Live resize"). A memory limit made at create lives in Strata's
/// memory parent (<see cref="ContainerCgroups"/>) and is written there; otherwise the runtime changes its own cgroup
/// with <c>update</c>, as it does the CPU quota. The bundle's config.json takes the new limits, so the next start
/// keeps them; a container that is not running only has its configuration (and Strata's parent) changed.
/// </summary>
public sealed partial class ContainerDriver : IResizeDriver
{
    public async Task<ResizeResult> ResizeAsync(DriverHandle handle, long? memoryBytes, double? cpus, CancellationToken cancellationToken)
    {
        CgroupResize.Validate(memoryBytes, cpus);
        var runtime = await RuntimeAsync(cancellationToken).ConfigureAwait(false);
        var parent = handle.Data.GetValueOrDefault(MemoryCgroupKey);
        var ownDirs = CgroupResize.Directories(handle.Data, CgroupDirsKey);
        // A container its runtime is still starting counts as live: asked too early, the state does not exist yet while
        // the runtime has already read the bundle, and the new limits reached neither (a docker update right after run -d).
        var live = await SettledStateAsync(runtime, handle, cancellationToken).ConfigureAwait(false) is { Status: "running" or "paused" or "created" };
        // A runtime that manages no cgroups (crun on hybrid hosts) had every limit set in Strata's cgroups at create.
        var cpuDir = runtime.ManagesCgroups ? null : CgroupResize.CpuDirectory(ownDirs);
        if (!runtime.ManagesCgroups && ((memoryBytes is not null && parent is null) || (cpus is not null && cpuDir is null)))
        {
            throw StrataException.Invalid(memoryBytes is not null && parent is null ? "memoryBytes" : "cpus",
                $"{runtime.Name} here manages no cgroups, and container {handle.InstanceId} was created without that limit, so there is no cgroup to change; recreate it with --memory/--cpus to resize it later");
        }
        // What Strata's own cgroups do not take, the runtime sets in its cgroup.
        var (runtimeMemory, runtimeCpus) = CgroupResize.Write(parent, cpuDir, memoryBytes, cpus);
        var update = new List<string>();
        if (runtimeMemory is { } m)
        {
            var bytes = m.ToString(CultureInfo.InvariantCulture);
            update.AddRange(["--memory", bytes, "--memory-swap", bytes]);
        }
        if (runtimeCpus is { } c)
        {
            update.AddRange(["--cpu-period", CgroupLimits.CfsPeriodMicros.ToString(CultureInfo.InvariantCulture),
                "--cpu-quota", CgroupLimits.CfsQuota(c).ToString(CultureInfo.InvariantCulture)]);
        }
        if (update.Count > 0 && live)
        {
            var r = await runtime.RunAsync(["update", .. update, handle.InstanceId], cancellationToken).ConfigureAwait(false);
            if (r.ExitCode != 0)
            {
                var why = (r.Stderr + r.Stdout).Trim();
                throw why.Contains("busy", StringComparison.OrdinalIgnoreCase)
                    ? StrataException.Conflict($"the memory limit cannot be set to {memoryBytes >> 20} MiB now: the container uses more and it cannot be reclaimed ({why}); give a larger limit")
                    : new StrataException(ErrorKind.Internal, $"{runtime.Name} update of container {handle.InstanceId} failed: {why}");
            }
        }
        KeepInBundle(handle, runtimeMemory, runtimeCpus);
        LogResized(handle.InstanceId, memoryBytes ?? -1, cpus ?? -1, live);
        var memoryDir = parent ?? new ContainerCgroups(handle.InstanceId, _options.CgroupParent).MemoryDirectory;
        var memory = CgroupLimits.ReadMemoryLimit(memoryDir) ?? memoryBytes ?? 0;
        var cores = cpus ?? BundleCpus(handle) ?? Environment.ProcessorCount;
        return new ResizeResult(memory, memory, cores, Environment.ProcessorCount, live ? null : "the container is not running: its next start has the new limits", Kept: true);
    }

    /// <summary>config.json, which every start hands the runtime, takes the limits the runtime applies.</summary>
    private static void KeepInBundle(DriverHandle handle, long? memoryBytes, double? cpus)
    {
        if (memoryBytes is null && cpus is null)
        {
            return;
        }
        var path = Path.Combine(handle.Directory, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        var linux = config["linux"] as JsonObject ?? (JsonObject)(config["linux"] = new JsonObject());
        var resources = linux["resources"] as JsonObject ?? (JsonObject)(linux["resources"] = new JsonObject());
        if (memoryBytes is { } m)
        {
            var memory = resources["memory"] as JsonObject ?? (JsonObject)(resources["memory"] = new JsonObject());
            memory["limit"] = m;
            memory["swap"] = m;
        }
        if (cpus is { } c)
        {
            var cpu = resources["cpu"] as JsonObject ?? (JsonObject)(resources["cpu"] = new JsonObject());
            cpu["period"] = CgroupLimits.CfsPeriodMicros;
            cpu["quota"] = CgroupLimits.CfsQuota(c);
        }
        AtomicFile.WriteAllText(path, config.ToJsonString());
    }

    private static double? BundleCpus(DriverHandle handle)
    {
        try
        {
            var cpu = JsonNode.Parse(File.ReadAllText(Path.Combine(handle.Directory, "config.json")))?["linux"]?["resources"]?["cpu"];
            return (long?)cpu?["quota"] is > 0 and var q && (long?)cpu?["period"] is > 0 and var p ? (double)q / p : null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
