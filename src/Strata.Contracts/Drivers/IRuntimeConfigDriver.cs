namespace Strata.Contracts.Drivers;

/// <summary>
/// Optional capability: the exact configuration the instance's runtime is given, for tiers that hand one to an
/// external runtime (the container tier's OCI <c>config.json</c>). For debugging, and for benchmarks that run the
/// raw runtime with the same configuration as Strata.
/// </summary>
public interface IRuntimeConfigDriver
{
    /// <summary>The configuration as the runtime reads it (JSON text), written at create time.</summary>
    Task<string> RuntimeConfigAsync(DriverHandle handle, CancellationToken cancellationToken);
}
