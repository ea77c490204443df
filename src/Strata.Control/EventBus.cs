using System.Threading.Channels;
using Strata.Contracts;

namespace Strata.Control;

/// <summary>
/// Fan-out of lifecycle events to live subscribers (the SSE endpoint). A slow subscriber never blocks the
/// control plane: each has a bounded queue and drops its oldest events when full.
/// A subscriber limited to one project receives only that project's events, numbered by its own sequence
/// (1, 2, 3, ...): nothing it receives, its numbers included, tells it about other projects' activity, and a gap
/// in its numbers means it fell behind and lost events of its own.
/// </summary>
public sealed class EventBus
{
    private readonly Lock _lock = new();
    private readonly List<Subscriber> _subscribers = [];
    private readonly TimeProvider _time;

    public EventBus(TimeProvider time) => _time = time;

    public void Publish(string type, InstanceRecordView instance, string? detail = null)
    {
        var e = new InstanceEvent
        {
            Sequence = 0,
            Time = _time.GetUtcNow(),
            Type = type,
            Instance = instance.Name,
            Project = instance.Project,
            Tier = instance.Tier.ToName(),
            State = instance.State.ToName(),
            ExitCode = instance.ExitCode,
            Reason = instance.Reason,
            Detail = detail,
        };
        lock (_lock)
        {
            foreach (var s in _subscribers)
            {
                if (s.Project is null || s.Project == e.Project)
                {
                    // Numbered under the lock: each subscriber's sequence follows the order it receives events in.
                    s.Channel.Writer.TryWrite(e with { Sequence = ++s.Delivered });
                }
            }
        }
    }

    /// <summary>A live subscription to every project's events (<paramref name="project"/> null) or to one project's.</summary>
    public Subscription Subscribe(string? project = null)
    {
        var subscriber = new Subscriber(project, Channel.CreateBounded<InstanceEvent>(new BoundedChannelOptions(1024)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        }));
        lock (_lock)
        {
            _subscribers.Add(subscriber);
        }
        return new Subscription(this, subscriber);
    }

    private void Unsubscribe(Subscriber subscriber)
    {
        lock (_lock)
        {
            _subscribers.Remove(subscriber);
        }
        subscriber.Channel.Writer.TryComplete();
    }

    internal sealed class Subscriber(string? project, Channel<InstanceEvent> channel)
    {
        public string? Project { get; } = project;
        public Channel<InstanceEvent> Channel { get; } = channel;
        /// <summary>Events handed to this subscriber so far (written under the bus's lock).</summary>
        public long Delivered { get; set; }
    }

    public sealed class Subscription : IDisposable
    {
        private readonly EventBus _bus;
        private readonly Subscriber _subscriber;

        internal Subscription(EventBus bus, Subscriber subscriber)
        {
            _bus = bus;
            _subscriber = subscriber;
        }

        public ChannelReader<InstanceEvent> Reader => _subscriber.Channel.Reader;

        public void Dispose() => _bus.Unsubscribe(_subscriber);
    }
}

/// <summary>The few facts an event needs about an instance.</summary>
public readonly record struct InstanceRecordView(string Name, string Project, Tier Tier, InstanceState State, int? ExitCode, string? Reason);
