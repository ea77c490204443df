using Microsoft.Extensions.Logging.Abstractions;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Drivers.Fake;
using Strata.Store;

namespace Strata.Control.Tests;

/// <summary>
/// An <see cref="InstanceService"/> over the fake driver, the in-memory store and virtual time, with a
/// subscription to its events. <see cref="StopDaemonAsync"/> and <see cref="StartDaemonAsync"/> replace the service by a new one
/// over the same store and driver, as a daemon restart does: the fake driver's workloads keep running meanwhile.
/// </summary>
public sealed class InstanceServiceHarness : IAsyncDisposable
{
    /// <summary>How long a test waits for an event before it fails (a safety net; nothing waits this long when it works).</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private readonly List<InstanceEvent> _unread = [];
    private readonly IInstancePlacement? _placement;
    private EventBus.Subscription _subscription;

    /// <param name="more">Further drivers (built over the fake one), e.g. a <see cref="TierStandIn"/> for another tier.</param>
    /// <param name="placement">The placement the service asks (the advisor in the daemon); null: none.</param>
    public InstanceServiceHarness(Func<FakeDriver, IEnumerable<IDriver>>? more = null, IInstancePlacement? placement = null)
    {
        Root = Directory.CreateTempSubdirectory("strata-instance-service-").FullName;
        Driver = new FakeDriver(Time);
        Drivers = new DriverRegistry([Driver, .. more?.Invoke(Driver) ?? []]);
        _placement = placement;
        Events = new EventBus(Time);
        _subscription = Events.Subscribe();
        Service = NewService();
    }

    public string Root { get; }

    public TimerRecordingTimeProvider Time { get; } = new();

    public FakeDriver Driver { get; }

    public DriverRegistry Drivers { get; }

    public InMemoryStateStore Store { get; } = new();

    public EventBus Events { get; private set; }

    public InstanceService Service { get; private set; }

    public static InstanceSpec Spec(string name, params string[] args) => new() { Name = name, Tier = "fake", Args = args };

    public async Task InitializeAsync()
    {
        await Drivers.FingerprintAllAsync(CancellationToken.None);
        await Service.InitializeAsync(CancellationToken.None);
    }

    /// <summary>Ends the service as a daemon shutdown does: its watchers stop, the fake driver's workloads keep running.</summary>
    public async Task StopDaemonAsync()
    {
        await Service.DisposeAsync();
        _subscription.Dispose();
        _unread.Clear();
    }

    /// <summary>A new service (a restarted daemon) over the same store and driver, reconciled with what the driver reports.</summary>
    public async Task StartDaemonAsync()
    {
        Events = new EventBus(Time);
        _subscription = Events.Subscribe();
        Service = NewService();
        await Service.InitializeAsync(CancellationToken.None);
    }

    private InstanceService NewService() =>
        new(Store, Drivers, Events, new ControlOptions { Root = Root, AllowFakeTier = true, Placement = _placement }, Time, NullLogger<InstanceService>.Instance);

    public Task<InstanceRecord> CreateAsync(InstanceSpec spec, bool start = true) =>
        Service.CreateAsync(spec, start, InstanceService.DefaultProject, CancellationToken.None);

    /// <summary>The next event about <paramref name="instance"/> (events about others stay for later calls).</summary>
    public async Task<InstanceEvent> NextEventAsync(string instance)
    {
        var index = _unread.FindIndex(e => e.Instance == instance);
        if (index >= 0)
        {
            var buffered = _unread[index];
            _unread.RemoveAt(index);
            return buffered;
        }
        using var timeout = new CancellationTokenSource(Patience);
        while (true)
        {
            var e = await _subscription.Reader.ReadAsync(timeout.Token);
            if (e.Instance == instance)
            {
                return e;
            }
            _unread.Add(e);
        }
    }

    /// <summary>Reads the next events about <paramref name="instance"/> and checks their types, in order.</summary>
    public async Task<IReadOnlyList<InstanceEvent>> ExpectEventsAsync(string instance, params string[] types)
    {
        var events = new List<InstanceEvent>();
        foreach (var _ in types)
        {
            events.Add(await NextEventAsync(instance));
        }
        Assert.Equal(types, events.Select(e => e.Type));
        return events;
    }

    /// <summary>The events that have arrived and not been read, for every instance.</summary>
    public IReadOnlyList<InstanceEvent> UnreadEvents()
    {
        while (_subscription.Reader.TryRead(out var e))
        {
            _unread.Add(e);
        }
        return [.. _unread];
    }

    /// <summary>No instance in the service, no row in the store, no instance directory on disk.</summary>
    public async Task AssertNothingLeftAsync()
    {
        Assert.Empty(Service.List());
        Assert.Empty(await Store.ListAsync());
        Assert.Empty(InstanceDirectories());
    }

    public string[] InstanceDirectories()
    {
        var dir = Path.Combine(Root, "instances");
        return Directory.Exists(dir) ? Directory.GetDirectories(dir) : [];
    }

    public async ValueTask DisposeAsync()
    {
        await Service.DisposeAsync();
        _subscription.Dispose();
        Drivers.Dispose();
        Store.Dispose();
        Directory.Delete(Root, recursive: true);
    }
}
