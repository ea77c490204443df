using System.CommandLine;
using System.Globalization;
using System.Text;
using Strata.Contracts;

namespace Strata.Cli;

/// <summary>
/// <c>strata recommend [NAME…] [--apply] [--json]</c> and the chart of <c>strata stats NAME --history</c>
/// (docs/rightsizing.md).
/// </summary>
public static class RecommendCommands
{
    /// <summary><c>--rightsize off|recommend|auto</c> of run, create and update.</summary>
    public static Option<string?> RightsizeOption() => new("--rightsize")
    {
        Description = "right-sizing: off | recommend (show, never apply) | auto (change limits live from measured usage); default: the project's",
    };

    /// <summary><c>strata update NAME --rightsize MODE|default</c>: changes what can change after create.</summary>
    public static Command Update()
    {
        var name = new Argument<string>("name") { Description = "the instance" };
        var rightsize = RightsizeOption();
        rightsize.Description = "off | recommend | auto, or 'default' to follow the project's again";
        var json = new Option<bool>("--json") { Description = "print JSON instead of text" };
        var command = new Command("update", "Change an instance's settings that can change after create (today: --rightsize)") { name, rightsize, json };
        command.SetAction(async (parse, ct) =>
        {
            if (parse.GetValue(rightsize) is not { } mode)
            {
                Console.Error.WriteLine("strata: update needs something to change: --rightsize off|recommend|auto|default");
                return StrataCli.ExitUsage;
            }
            return await StrataCli.Guard(async () =>
            {
                using var client = StrataCli.Client(parse);
                var status = await client.SetRightsizeAsync(parse.GetValue(name)!, mode == "default" ? null : mode, ct);
                if (parse.GetValue(json))
                {
                    StrataCli.WriteJson(status, StrataJsonContext.Default.RightsizeStatus);
                }
                else
                {
                    Console.WriteLine($"{parse.GetValue(name)}: right-sizing {status.Mode} ({(status.Source == "project" ? "the project's default" : "its own setting")})");
                }
                return 0;
            });
        });
        return command;
    }

    public static Command Recommend()
    {
        var names = new Argument<string[]>("name") { Description = "instances (default: every sampled one of the project)", Arity = ArgumentArity.ZeroOrMore };
        var apply = new Option<bool>("--apply") { Description = "set the named running instances' limits to the recommendation (live resize)" };
        var json = new Option<bool>("--json") { Description = "print JSON instead of text" };
        var command = new Command("recommend", "Recommended CPU and memory limits from measured usage, and why") { names, apply, json };
        command.SetAction(async (parse, ct) =>
        {
            var wanted = parse.GetValue(names) ?? [];
            if (parse.GetValue(apply) && wanted.Length == 0)
            {
                Console.Error.WriteLine("strata: recommend --apply changes limits: name the instances to apply to (strata recommend --apply NAME…)");
                return StrataCli.ExitUsage;
            }
            return await StrataCli.Guard(async () =>
            {
                using var client = StrataCli.Client(parse);
                if (parse.GetValue(apply))
                {
                    var applied = new List<ApplyRecommendationResponse>();
                    foreach (var name in wanted)
                    {
                        var r = await client.ApplyRecommendationAsync(name, ct);
                        applied.Add(r);
                        if (!parse.GetValue(json))
                        {
                            Console.WriteLine($"{r.Name}: memory {ImageCommands.Human(r.Before.MemoryBytes)} → {ImageCommands.Human(r.After.MemoryBytes)}, cpu {Cores(r.Before.CpuCores)} → {Cores(r.After.CpuCores)}");
                        }
                    }
                    if (parse.GetValue(json))
                    {
                        foreach (var r in applied)
                        {
                            StrataCli.WriteJson(r, StrataJsonContext.Default.ApplyRecommendationResponse);
                        }
                    }
                    return 0;
                }
                var list = await client.RecommendationsAsync(wanted, ct);
                if (parse.GetValue(json))
                {
                    StrataCli.WriteJson(list, StrataJsonContext.Default.RecommendationList);
                    return 0;
                }
                if (list.Recommendations.Count == 0)
                {
                    Console.WriteLine("no usage histories yet: running instances are sampled every few seconds (stratad --usage-interval)");
                }
                foreach (var r in list.Recommendations)
                {
                    Console.Write(Describe(r));
                }
                return 0;
            });
        });
        return command;
    }

    /// <summary>One recommendation as text: the limits now and recommended, slack, confidence, then the reasons.</summary>
    public static string Describe(InstanceRecommendation r)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{r.Name} ({r.Tier}, {r.State}): {r.Samples:N0} samples over {r.HistoryHours:0.#} h, confidence {r.Confidence} (upper bounds ×{r.UpperFactor:0.##})");
        if (r.OomKills > 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $", {r.OomKills} OOM kill{(r.OomKills == 1 ? "" : "s")}");
        }
        sb.Append('\n');
        if (r.Samples == 0)
        {
            sb.Append("  no samples yet: nothing to recommend\n");
            return sb.ToString();
        }
        sb.Append(CultureInfo.InvariantCulture, $"  cpu     now {Cores(r.Current.CpuCores),-10} → {Cores(r.Cpu.Target),-10} ({Cores(r.Cpu.Lower)}–{Cores(r.Cpu.Upper)})  slack {Percent(r.SlackToday.Cpu)} → {Percent(r.SlackAfter.Cpu)}\n");
        sb.Append(CultureInfo.InvariantCulture, $"  memory  now {ImageCommands.Human(r.Current.MemoryBytes),-10} → {ImageCommands.Human((long)r.Memory.Target),-10} ({ImageCommands.Human((long)r.Memory.Lower)}–{ImageCommands.Human((long)r.Memory.Upper)})  slack {Percent(r.SlackToday.Memory)} → {Percent(r.SlackAfter.Memory)}\n");
        foreach (var reason in r.Reasons)
        {
            sb.Append("  - ").Append(reason).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>The recent samples as two rows of bars (CPU, memory) scaled to the limits, with the range seen.</summary>
    public static string Chart(UsageHistoryView h, int width = 60)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{h.Name}: {h.Points.Count} samples every {h.IntervalSeconds:0.#} s");
        if (h.Points.Count == 0)
        {
            sb.Append(" (none yet: the instance is sampled while it runs)\n");
            return sb.ToString();
        }
        sb.Append(CultureInfo.InvariantCulture, $", {h.Points[0].Time:HH:mm:ss} – {h.Points[^1].Time:HH:mm:ss} UTC\n");
        var points = Downsample(h.Points, width);
        var cpuMax = Math.Max(h.Limits.CpuCores, points.Max(p => p.CpuCores));
        var memoryMax = Math.Max(h.Limits.MemoryBytes, points.Max(p => p.MemoryBytes));
        sb.Append(CultureInfo.InvariantCulture, $"  cpu     {Bars(points.Select(p => p.CpuCores / cpuMax))}  {Cores(h.Points.Min(p => p.CpuCores))}–{Cores(h.Points.Max(p => p.CpuCores))} of {Cores(h.Limits.CpuCores)}\n");
        sb.Append(CultureInfo.InvariantCulture, $"  memory  {Bars(points.Select(p => p.MemoryBytes / (double)memoryMax))}  {ImageCommands.Human(h.Points.Min(p => p.MemoryBytes))}–{ImageCommands.Human(h.Points.Max(p => p.MemoryBytes))} of {ImageCommands.Human(h.Limits.MemoryBytes)}\n");
        return sb.ToString();
    }

    /// <summary>At most <paramref name="width"/> points: each the maximum of its slice (a chart of limits shows peaks).</summary>
    private static List<UsagePoint> Downsample(IReadOnlyList<UsagePoint> points, int width)
    {
        if (points.Count <= width)
        {
            return [.. points];
        }
        var result = new List<UsagePoint>(width);
        for (var i = 0; i < width; i++)
        {
            var slice = points.Skip(i * points.Count / width).Take(Math.Max(1, ((i + 1) * points.Count / width) - (i * points.Count / width))).ToList();
            result.Add(new UsagePoint(slice[^1].Time, slice.Max(p => p.CpuCores), slice.Max(p => p.MemoryBytes)));
        }
        return result;
    }

    private static string Bars(IEnumerable<double> fractions)
    {
        const string levels = "▁▂▃▄▅▆▇█";
        return string.Concat(fractions.Select(f => levels[(int)Math.Clamp(Math.Round(f * (levels.Length - 1)), 0, levels.Length - 1)]));
    }

    internal static string Cores(double cores) => cores >= 1
        ? cores.ToString("0.##", CultureInfo.InvariantCulture) + (cores == 1 ? " core" : " cores")
        : (cores * 1000).ToString("0", CultureInfo.InvariantCulture) + "m";

    private static string Percent(double fraction) => (fraction * 100).ToString("0", CultureInfo.InvariantCulture) + " %";
}
