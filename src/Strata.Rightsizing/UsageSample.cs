namespace Strata.Rightsizing;

/// <summary>One measurement of an instance: CPU in cores (averaged since the previous sample) and memory working set.</summary>
public readonly record struct UsageSample(DateTimeOffset Time, double CpuCores, double MemoryBytes);

/// <summary>An instance's limits: CPU in cores, memory in bytes.</summary>
public readonly record struct ResourceLimits(double CpuCores, double MemoryBytes);
