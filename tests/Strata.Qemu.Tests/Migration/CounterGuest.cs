using Strata.Qemu.Migration;

namespace Strata.Qemu.Tests.Migration;

/// <summary>Helpers for guests that run <see cref="GuestCounter"/>.</summary>
internal static class CounterGuest
{
    /// <summary>A <see cref="IProgress{T}"/> that runs its callback on the reporting thread (no synchronization context hop).</summary>
    public sealed class Inline(Action<MigrationProgress> onReport) : IProgress<MigrationProgress>
    {
        public List<MigrationProgress> Reports { get; } = [];

        public void Report(MigrationProgress value)
        {
            lock (Reports)
            {
                Reports.Add(value);
            }
            onReport(value);
        }
    }
}
