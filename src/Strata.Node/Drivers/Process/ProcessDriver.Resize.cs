using System.Text.Json;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Contracts.Host;
using Strata.Node.Cgroups;

namespace Strata.Node.Drivers.Process;

/// <summary>
/// Live resize of a process instance: its cgroup's memory and CPU limits are written in place (running or not: the
/// cgroups outlive a run), and the instance's spec.json takes the new limits, so every later start keeps them.
/// </summary>
public sealed partial class ProcessDriver : IResizeDriver
{
    public async Task<ResizeResult> ResizeAsync(DriverHandle handle, long? memoryBytes, double? cpus, CancellationToken cancellationToken)
    {
        CgroupResize.Validate(memoryBytes, cpus);
        var dirs = CgroupResize.Directories(handle.Data, CgroupDirsKey);
        var unified = CgroupSet.IsUnifiedOnly();
        var memoryDir = handle.Data.GetValueOrDefault(MemoryCgroupKey) ?? (unified ? dirs.FirstOrDefault() : null);
        var cpuDir = unified ? dirs.FirstOrDefault() : CgroupResize.CpuDirectory(dirs);
        if (memoryBytes is not null && memoryDir is null)
        {
            throw StrataException.Invalid("memoryBytes", $"process instance {handle.InstanceId} was created without a memory limit, and on cgroup v1 its memory cgroup is made only for one (it keeps starts fast), so there is nothing to change live; recreate it with --memory to resize it later");
        }
        if (cpus is not null && cpuDir is null)
        {
            throw StrataException.Invalid("cpus", $"process instance {handle.InstanceId} was created without a CPU limit, and on cgroup v1 its cpu cgroup is made only for one, so there is nothing to change live; recreate it with --cpus to resize it later");
        }
        CgroupResize.Write(memoryDir, cpuDir, memoryBytes, cpus);
        await KeepInSpecAsync(handle, memoryBytes, cpus).ConfigureAwait(false);
        var memory = memoryDir is null ? 0 : CgroupLimits.ReadMemoryLimit(memoryDir) ?? 0;
        var cores = cpuDir is null ? System.Environment.ProcessorCount : CgroupLimits.ReadCpus(cpuDir) ?? System.Environment.ProcessorCount;
        return new ResizeResult(memory, memory, cores, System.Environment.ProcessorCount, Kept: true);
    }

    /// <summary>
    /// The spec beside the handle, which every start reads, takes the new limits. Not cancellable: the limits are
    /// already written in the cgroups by then, and a start must not lose them.
    /// </summary>
    private static async Task KeepInSpecAsync(DriverHandle handle, long? memoryBytes, double? cpus)
    {
        var path = Path.Combine(handle.Directory, SpecFileName);
        var spec = JsonSerializer.Deserialize(await File.ReadAllTextAsync(path, CancellationToken.None).ConfigureAwait(false), StrataJsonContext.Default.InstanceSpec)!;
        var resources = spec.Resources ?? new ResourceSpec();
        resources = resources with { MemoryBytes = memoryBytes ?? resources.MemoryBytes, Cpus = cpus ?? resources.Cpus };
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(spec with { Resources = resources }, StrataJsonContext.Default.InstanceSpec));
    }
}
