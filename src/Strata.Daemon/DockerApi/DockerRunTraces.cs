using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Strata.Control;

namespace Strata.Daemon.DockerApi;

/// <summary>
/// Where the time of a <c>docker run</c> goes. A docker client runs a container in several requests (create,
/// attach, wait, start); each container created while the timeline is enabled gets one
/// <see cref="RunTimeline"/> that all its requests mark (the request's arrival and answer), and that the control
/// plane and the driver mark as they do for <c>strata run</c> (spec validated, bundle written, supervisor
/// handshake, workload exited, store delete ...). It is logged as one debug line when the run's wait answers
/// (for <c>docker run --rm</c>: once the container is removed), under the category
/// <c>Strata.Daemon.RunTimeline</c> like Strata's own runs. Disabled (the default), it costs a flag check per request.
/// </summary>
public sealed partial class DockerRunTraces
{
    private const int MaxOpen = 64;
    private readonly ConcurrentDictionary<string, Activity> _open = new(StringComparer.Ordinal);
    private readonly ILogger _log;

    public DockerRunTraces(ILoggerFactory loggers)
    {
        _log = loggers.CreateLogger("Strata.Daemon.RunTimeline");
    }

    public bool Enabled => _log.IsEnabled(LogLevel.Debug);

    /// <summary>Starts the timeline of a container being created (the create request's own flow marks it from here).</summary>
    public Activity? BeginCreate()
    {
        if (!Enabled)
        {
            return null;
        }
        Activity.Current = null; // a root of its own, not a child of the server's request activity
        return RunTimeline.Start(null);
    }

    /// <summary>Keeps the create's timeline for the container's later requests.</summary>
    public void Created(Activity? activity, string containerId)
    {
        if (activity is null)
        {
            return;
        }
        if (_open.Count >= MaxOpen)
        {
            // Runs whose wait never came (created and left): the oldest go, so the table stays small.
            foreach (var stale in _open.OrderBy(p => p.Value.StartTimeUtc).Take(_open.Count - MaxOpen + 1).ToList())
            {
                _open.TryRemove(stale.Key, out _);
            }
        }
        _open[containerId] = activity;
    }

    /// <summary>
    /// Makes the container's timeline the current activity of this request's flow (and of what it starts: the
    /// task that watches the workload) and marks the request's arrival. Returns false when there is none.
    /// </summary>
    public bool Join(string containerId, string mark)
    {
        if (!Enabled || !_open.TryGetValue(containerId, out var activity))
        {
            return false;
        }
        Activity.Current = activity;
        RunTimeline.Mark(mark);
        return true;
    }

    /// <summary>Logs the container's timeline (the run is over for its client) and forgets it.</summary>
    public void Finish(string containerId, string name, string? network)
    {
        if (_open.TryRemove(containerId, out var activity))
        {
            LogTimeline(name, network ?? "none", activity.StartTimeUtc.ToString("HH:mm:ss.ffff", CultureInfo.InvariantCulture), RunTimeline.Format(activity));
        }
    }

    [LoggerMessage(EventId = 2, EventName = "DockerRunTimeline", Level = LogLevel.Debug, Message = "docker run {Name} on network {Network} at {Start} (ms from the create request; step): {Timeline}")]
    private partial void LogTimeline(string name, string network, string start, string timeline);
}
