using System.Globalization;
using System.Text;
using Strata.Contracts;

namespace Strata.Control.Usage;

/// <summary>Per-instance series for <c>/metrics</c>, in the names cAdvisor and Incus users already scrape.</summary>
public sealed partial class UsageSampler
{
    /// <summary>Appends the series of the instances of <paramref name="project"/> (null: every project) that have been sampled.</summary>
    public void RenderMetrics(StringBuilder sb, string? project)
    {
        var live = _service.List(project).Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
        List<(string Labels, double Cpu, long Memory, long? Limit, long Ooms)> rows;
        lock (_lock)
        {
            rows = [.. _tracked.Values
                .Where(t => t.RemovedAt is null && live.Contains(t.Id))
                .OrderBy(t => t.Project, StringComparer.Ordinal).ThenBy(t => t.Name, StringComparer.Ordinal)
                .Select(t => (Labels(t), t.CpuNanosecondsTotal / 1e9, t.Last?.MemoryBytes ?? t.Recent().LastOrDefault()?.MemoryBytes ?? 0, t.MemoryLimitBytes, t.OomKillsTotal))];
        }
        Series(sb, "strata_instance_cpu_seconds_total", "counter", "CPU time used by the instance's workload since the daemon began sampling it.", rows.Select(r => (r.Labels, (double?)r.Cpu)));
        Series(sb, "strata_instance_memory_working_set_bytes", "gauge", "Memory in use by the instance, without inactive page cache, at the last sample.", rows.Select(r => (r.Labels, (double?)r.Memory)));
        Series(sb, "strata_instance_memory_limit_bytes", "gauge", "The instance's memory limit (absent when unlimited).", rows.Select(r => (r.Labels, r.Limit is { } l ? (double?)l : null)));
        Series(sb, "strata_instance_oom_kills_total", "counter", "OOM kills of the instance's processes counted by the usage sampler.", rows.Select(r => (r.Labels, (double?)r.Ooms)));
    }

    private string Labels(TrackedUsage t) =>
        $"name=\"{Escape(t.Name)}\",project=\"{Escape(t.Project)}\",tier=\"{t.Tier.ToName()}\",node=\"{Escape(Options.Node)}\"";

    private static void Series(StringBuilder sb, string name, string type, string help, IEnumerable<(string Labels, double? Value)> rows)
    {
        sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        sb.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        foreach (var (labels, value) in rows)
        {
            if (value is { } v)
            {
                sb.Append(name).Append('{').Append(labels).Append("} ").Append(v.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
            }
        }
    }

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
