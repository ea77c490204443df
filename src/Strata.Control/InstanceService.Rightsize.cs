using System.Globalization;
using Strata.Contracts;

namespace Strata.Control;

public sealed partial class InstanceService
{
    /// <summary>
    /// Sets an instance's own right-sizing mode (null: it follows its project's default again), in any state; kept in
    /// its spec. An event <c>rightsize</c> says the new mode.
    /// </summary>
    public async Task<Store.InstanceRecord> SetRightsizeAsync(string project, string name, string? mode, CancellationToken cancellationToken)
    {
        if (mode is not null)
        {
            RightsizeModes.Validate(mode, "mode");
        }
        var entry = Find(project, name);
        await entry.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var record = entry.Record;
            if (record.Spec.Rightsize != mode)
            {
                await CommitAsync(entry, record with { Spec = record.Spec with { Rightsize = mode } }, null).ConfigureAwait(false);
                _events.Publish("rightsize", View(entry.Record), mode is null ? "right-sizing follows the project's default" : $"right-sizing set to {mode}");
            }
            return entry.Record;
        }
        finally
        {
            entry.Lock.Release();
        }
    }

    private static string ResizeDetail(long? memoryBytes, double? cpus, string? why)
    {
        var parts = new List<string>(3);
        if (memoryBytes is { } m)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"memory {m >> 20} MiB"));
        }
        if (cpus is { } c)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"cpus {c:0.##}"));
        }
        var limits = string.Join(", ", parts);
        return why is null ? limits : $"{limits}: {why}";
    }
}
