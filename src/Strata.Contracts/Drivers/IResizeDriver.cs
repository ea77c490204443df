namespace Strata.Contracts.Drivers;

/// <summary>
/// Optional capability: changing a running instance's resources without restarting it
/// (<see cref="DriverCapabilities.LiveResize"/>). A VM takes memory back through its balloon and adds vCPUs by hot-plug.
/// </summary>
public interface IResizeDriver
{
    /// <summary>
    /// Applies what is given (null = unchanged; CPUs in cores: fractions for the cgroup tiers, whole vCPUs for a guest) and returns what the instance has afterwards. Throws
    /// <see cref="StrataException"/> with <see cref="ErrorKind.InvalidArgument"/> for values outside the instance's
    /// limits (saying the limits) and <see cref="ErrorKind.Conflict"/> when the instance is not running.
    /// </summary>
    Task<ResizeResult> ResizeAsync(DriverHandle handle, long? memoryBytes, double? cpus, CancellationToken cancellationToken);
}

/// <summary>The instance's resources after a resize (memory as the guest sees it once the balloon has settled).</summary>
/// <param name="Kept">The tier wrote the new limits into the instance's own configuration, so later starts keep them
/// (container and process); the control plane then records them in the instance's spec.</param>
public sealed record ResizeResult(long MemoryBytes, long MaxMemoryBytes, double Cpus, double MaxCpus, string? Note = null, bool Kept = false);
