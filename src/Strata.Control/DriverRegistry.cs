using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Control;

/// <summary>
/// The drivers of this daemon and what their fingerprints said at start-up. Disposing it (the daemon's shutdown)
/// disposes the drivers: their watchers, caches and spare processes end; workloads keep running.
/// </summary>
public sealed class DriverRegistry : IDisposable, ITierCapabilities
{
    private readonly Dictionary<Tier, IDriver> _drivers = [];
    private Dictionary<Tier, DriverFingerprint> _fingerprints = [];

    /// <summary>Registers one driver per tier; a second driver for a tier is a start-up error naming both.</summary>
    public DriverRegistry(IEnumerable<IDriver> drivers)
    {
        ArgumentNullException.ThrowIfNull(drivers);
        foreach (var driver in drivers)
        {
            if (_drivers.TryGetValue(driver.Tier, out var first))
            {
                throw new InvalidOperationException(
                    $"two drivers are registered for tier '{driver.Tier.ToName()}' ({first.GetType().Name} and {driver.GetType().Name}); register exactly one driver per tier in DaemonHost.CreateDrivers");
            }
            _drivers.Add(driver.Tier, driver);
        }
    }

    public IReadOnlyCollection<IDriver> All => _drivers.Values;

    public IReadOnlyCollection<Tier> Tiers => _drivers.Keys;

    public DriverCapabilities? Of(Tier tier) => _drivers.GetValueOrDefault(tier)?.Capabilities;

    public void Dispose()
    {
        foreach (var driver in _drivers.Values.OfType<IDisposable>())
        {
            driver.Dispose();
        }
    }

    public async Task FingerprintAllAsync(CancellationToken cancellationToken)
    {
        var results = new Dictionary<Tier, DriverFingerprint>();
        foreach (var driver in _drivers.Values)
        {
            try
            {
                results[driver.Tier] = await driver.FingerprintAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                results[driver.Tier] = DriverFingerprint.Unavailable($"fingerprint failed: {e.Message}");
            }
        }
        _fingerprints = results;
    }

    public DriverFingerprint Fingerprint(Tier tier) =>
        _fingerprints.TryGetValue(tier, out var f) ? f
        : _drivers.ContainsKey(tier) ? DriverFingerprint.Unavailable("not fingerprinted yet")
        : DriverFingerprint.Unavailable("this build of Strata has no driver for this tier yet");

    public bool IsAvailable(Tier tier) => _drivers.ContainsKey(tier) && Fingerprint(tier).Available;

    /// <summary>The driver for a tier that is usable here, or a 503 that says why not.</summary>
    public IDriver Get(Tier tier)
    {
        if (!_drivers.TryGetValue(tier, out var driver))
        {
            throw new StrataException(ErrorKind.Unavailable, $"tier '{tier.ToName()}' is not available: this build of Strata has no driver for it yet", "tier");
        }
        var fingerprint = Fingerprint(tier);
        if (!fingerprint.Available)
        {
            throw new StrataException(ErrorKind.Unavailable, $"tier '{tier.ToName()}' is not available on this host: {fingerprint.Reason}", "tier");
        }
        return driver;
    }

    /// <summary>The driver even when its engine is unavailable now (to stop or delete what exists).</summary>
    public IDriver? Find(Tier tier) => _drivers.GetValueOrDefault(tier);
}
