using System.Threading.Channels;
using Strata.Contracts;

namespace Strata.Control;

/// <summary>
/// Fan-out of lifecycle events to live subscribers (the SSE endpoint). A slow subscriber never blocks the
/// control plane: each has a bounded queue and drops its oldest events when full.
/// </summary>
public sealed class EventBus
{
    private readonly Lock _lock = new();
    private readonly List<Channel<InstanceEvent>> _subscribers = [];
    private readonly TimeProvider _time;
    private long _sequence;

    public EventBus(TimeProvider time) => _time = time;

    public void Publish(string type, InstanceRecordView instance)
    {
        var e = new InstanceEvent
        {
            Sequence = Interlocked.Increment(ref _sequence),
            Time = _time.GetUtcNow(),
            Type = type,
            Instance = instance.Name,
            Project = instance.Project,
            Tier = instance.Tier.ToName(),
            State = instance.State.ToName(),
            ExitCode = instance.ExitCode,
            Reason = instance.Reason,
        };
        lock (_lock)
        {
            foreach (var s in _subscribers)
            {
                s.Writer.TryWrite(e);
            }
        }
    }

    public Subscription Subscribe()
    {
        var channel = Channel.CreateBounded<InstanceEvent>(new BoundedChannelOptions(1024)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        });
        lock (_lock)
        {
            _subscribers.Add(channel);
        }
        return new Subscription(this, channel);
    }

    private void Unsubscribe(Channel<InstanceEvent> channel)
    {
        lock (_lock)
        {
            _subscribers.Remove(channel);
        }
        channel.Writer.TryComplete();
    }

    public sealed class Subscription(EventBus bus, Channel<InstanceEvent> channel) : IDisposable
    {
        public ChannelReader<InstanceEvent> Reader => channel.Reader;

        public void Dispose() => bus.Unsubscribe(channel);
    }
}

/// <summary>The few facts an event needs about an instance.</summary>
public readonly record struct InstanceRecordView(string Name, string Project, Tier Tier, InstanceState State, int? ExitCode, string? Reason);
