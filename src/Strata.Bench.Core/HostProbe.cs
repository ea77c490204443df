using System.Globalization;
using Strata.Contracts;
using Strata.Contracts.Host;

namespace Strata.Bench.Core;

/// <summary>What the benchmark reads from the host it runs on: memory of process trees, versions, load.</summary>
public interface IHostProbe
{
    /// <summary>PSS of the instance whose reported PID is <paramref name="pid"/>: its supervisor and every descendant.</summary>
    long? InstancePss(int pid);

    long AvailableMemoryBytes();

    string? LoadAverage();

    /// <summary>The first line of <c>TOOL --version</c>, or null when the tool is not installed.</summary>
    string? Version(string tool, string argument = "--version");

    /// <summary>Full path of an executable on PATH, or null.</summary>
    string? Which(string tool);
}

/// <summary>The real host, through /proc and the tools on PATH.</summary>
public sealed class ProcHostProbe : IHostProbe
{
    /// <summary>The supervisor's name as /proc/PID/comm shows it (truncated to 15 characters by the kernel).</summary>
    private const string SupervisorComm = "strata-supervis";

    public long? InstancePss(int pid)
    {
        var parents = ParentMap();
        if (!parents.ContainsKey(pid))
        {
            return null;
        }
        // Count from the instance's supervisor when there is one, so its own memory and the engine's are included.
        var root = pid;
        for (var p = pid; parents.TryGetValue(p, out var parent) && parent > 1; p = parent)
        {
            if (Comm(parent) == SupervisorComm)
            {
                root = parent;
                break;
            }
        }
        long total = 0;
        var stack = new Stack<int>([root]);
        var children = parents.ToLookup(kv => kv.Value, kv => kv.Key);
        while (stack.TryPop(out var p))
        {
            total += Pss(p);
            foreach (var c in children[p])
            {
                stack.Push(c);
            }
        }
        return total;
    }

    public long AvailableMemoryBytes()
    {
        foreach (var line in ReadLines("/proc/meminfo"))
        {
            if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            }
        }
        return 0;
    }

    public string? LoadAverage()
    {
        try
        {
            var parts = File.ReadAllText("/proc/loadavg").Split(' ');
            return string.Join(' ', parts.Take(3));
        }
        catch (IOException)
        {
            return null;
        }
    }

    public string? Which(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':').Concat(["/usr/sbin", "/sbin"]))
        {
            var candidate = Path.Combine(dir, tool);
            if (dir.Length > 0 && File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    public string? Version(string tool, string argument = "--version")
    {
        if (Which(tool) is not { } path)
        {
            return null;
        }
        try
        {
            var result = HostTool.RunAsync(path, [argument], new HostToolOptions { Timeout = TimeSpan.FromSeconds(5) }).GetAwaiter().GetResult();
            var text = result.Stdout.Length > 0 ? result.Stdout : result.Stderr;
            return text.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.Trim() ?? "installed";
        }
        catch (StrataException e) when (e.Kind == ErrorKind.Internal)
        {
            return "installed (version unknown)";
        }
        catch (StrataException)
        {
            return null;
        }
    }

    private static Dictionary<int, int> ParentMap()
    {
        var map = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }
            try
            {
                // stat: "pid (comm) state ppid ..."; comm may contain spaces and parentheses, so split after the last ')'.
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                map[pid] = int.Parse(rest[1], CultureInfo.InvariantCulture);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                // The process ended while we looked.
            }
        }
        return map;
    }

    private static string? Comm(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static long Pss(int pid)
    {
        foreach (var line in ReadLines($"/proc/{pid}/smaps_rollup"))
        {
            if (line.StartsWith("Pss:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            }
        }
        return 0;
    }

    private static IEnumerable<string> ReadLines(string path)
    {
        try
        {
            return File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
