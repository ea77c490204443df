using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Strata.Control;

/// <summary>
/// Where the time of one run goes: named marks on the ambient <see cref="Activity"/> (it flows with the
/// async context from the API request into the control plane, the driver and the task that watches the
/// workload), logged as one debug line per run. Any layer marks with <c>Activity.Current?.AddEvent</c>;
/// without a timeline (no attached run) a mark costs a null check.
/// </summary>
public static class RunTimeline
{
    public const string ActivityName = "strata.run";

    /// <summary>Starts a timeline for the current async flow; <paramref name="clientStarted"/> is when the client process began, if it said.</summary>
    public static Activity Start(DateTimeOffset? clientStarted)
    {
        var activity = new Activity(ActivityName);
        activity.Start();
        if (clientStarted is { } t && t <= activity.StartTimeUtc && activity.StartTimeUtc - t < TimeSpan.FromMinutes(1))
        {
            activity.AddEvent(new ActivityEvent("client started", t));
        }
        return activity;
    }

    public static void Mark(string phase) => Activity.Current?.AddEvent(new ActivityEvent(phase));

    public static void Mark(string phase, DateTimeOffset at) => Activity.Current?.AddEvent(new ActivityEvent(phase, at));

    /// <summary>"request +0.0 | spec validated +0.4 (0.4) | ...": offset from the request and the step before, in ms, in time order.</summary>
    public static string Format(Activity activity)
    {
        var origin = new DateTimeOffset(activity.StartTimeUtc, TimeSpan.Zero);
        var text = new StringBuilder();
        var previous = origin;
        text.Append("request +0.0");
        foreach (var e in activity.Events.OrderBy(e => e.Timestamp))
        {
            text.Append(" | ").Append(e.Name).Append(' ')
                .Append(((e.Timestamp - origin).TotalMilliseconds).ToString("+0.0;-0.0", CultureInfo.InvariantCulture))
                .Append(" (").Append((e.Timestamp - previous).TotalMilliseconds.ToString("0.0", CultureInfo.InvariantCulture)).Append(')');
            previous = e.Timestamp > previous ? e.Timestamp : previous;
        }
        return text.ToString();
    }
}
