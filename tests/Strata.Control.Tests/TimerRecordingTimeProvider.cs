using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;

namespace Strata.Control.Tests;

/// <summary>
/// Virtual time that also reports every timer it creates (a <c>Task.Delay</c> is one): a test waits until the
/// code under test has armed its delay, checks how long it is, and only then advances the clock past it.
/// </summary>
public sealed class TimerRecordingTimeProvider : FakeTimeProvider
{
    private readonly Channel<TimeSpan> _timers = Channel.CreateUnbounded<TimeSpan>();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        _timers.Writer.TryWrite(dueTime);
        return timer;
    }

    /// <summary>The due time of the next timer created (in order), once it exists.</summary>
    public async Task<TimeSpan> NextTimerAsync()
    {
        using var timeout = new CancellationTokenSource(InstanceServiceHarness.Patience);
        return await _timers.Reader.ReadAsync(timeout.Token);
    }

    /// <summary>The timers created so far and not yet taken by <see cref="NextTimerAsync"/>.</summary>
    public IReadOnlyList<TimeSpan> PendingTimers()
    {
        var result = new List<TimeSpan>();
        while (_timers.Reader.TryRead(out var due))
        {
            result.Add(due);
        }
        return result;
    }
}
