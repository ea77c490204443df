using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Drivers.Fake;
using Strata.Node.Logs;

namespace Strata.Control.Tests;

/// <summary>
/// The fake driver standing in for another tier with the capabilities a test gives it: the control plane's
/// decisions that depend on what a driver declares (networks, commit, memory logs) run without any engine.
/// </summary>
internal class TierStandIn(FakeDriver inner, Tier tier, DriverCapabilities capabilities) : IDriver
{
    public Tier Tier => tier;
    public DriverCapabilities Capabilities => capabilities;
    public Task<DriverFingerprint> FingerprintAsync(CancellationToken cancellationToken) => inner.FingerprintAsync(cancellationToken);
    public Task<DriverHandle> CreateAsync(CreateRequest request, CancellationToken cancellationToken) => inner.CreateAsync(request, cancellationToken);
    public Task<DriverHandle> StartAsync(DriverHandle handle, CancellationToken cancellationToken) => inner.StartAsync(handle, cancellationToken);
    public Task StopAsync(DriverHandle handle, TimeSpan grace, CancellationToken cancellationToken) => inner.StopAsync(handle, grace, cancellationToken);
    public Task KillAsync(DriverHandle handle, int signal, CancellationToken cancellationToken) => inner.KillAsync(handle, signal, cancellationToken);
    public Task<ExitStatus> WaitAsync(DriverHandle handle, CancellationToken cancellationToken) => inner.WaitAsync(handle, cancellationToken);
    public Task<WorkloadStatus> RecoverAsync(DriverHandle handle, CancellationToken cancellationToken) => inner.RecoverAsync(handle, cancellationToken);
    public Task DeleteAsync(DriverHandle handle, CancellationToken cancellationToken) => inner.DeleteAsync(handle, cancellationToken);
}

/// <summary>A stand-in whose instances have a writable layer: <c>&lt;dir&gt;/changes</c>.</summary>
internal sealed class CommittingStandIn(FakeDriver inner, Tier tier) : TierStandIn(inner, tier, new DriverCapabilities { Networks = true }), ICommitDriver
{
    public string ChangesDirectory(DriverHandle handle) => Path.Combine(handle.Directory, "changes");
}

/// <summary>A stand-in that keeps every instance's output in memory.</summary>
internal sealed class MemoryLogStandIn(FakeDriver inner, Tier tier, TimeProvider time) : TierStandIn(inner, tier, new DriverCapabilities()), IMemoryLogDriver
{
    public Dictionary<string, MemoryLog> Logs { get; } = [];

    public IMemoryLog? FindLog(string instanceId)
    {
        lock (Logs)
        {
            if (!Logs.TryGetValue(instanceId, out var log))
            {
                Logs[instanceId] = log = new MemoryLog(1024, time);
            }
            return log;
        }
    }
}
