using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Strata.Node.Drivers.Sandbox;
using Strata.Qemu;
using Strata.Qemu.Guest;
using Strata.Qemu.Qmp;
using Strata.Qemu.Templates;

namespace Strata.Bench.Sandbox;

/// <summary>
/// The template side of the sandbox benchmark (docs/sandbox.md#templates): raw QEMU restoring the very template the
/// daemon saved (same memory file, state, flags and a fresh overlay, the parameters handed over the same setup port),
/// the baseline for a start from a template; and the memory (PSS) of idle sandboxes with and without templates.
/// </summary>
internal static class TemplateBench
{
    /// <summary>The daemon's template for busybox at the default 256 MiB (made by the first sandbox run).</summary>
    public static string LocateTemplate(string root)
    {
        var dir = Path.Combine(root, "cache", "guest", "templates");
        foreach (var t in Directory.Exists(dir) ? Directory.GetDirectories(dir) : [])
        {
            var manifest = Path.Combine(t, "template.json");
            if (!Path.GetFileName(t).StartsWith('.') && File.Exists(manifest)
                && JsonDocument.Parse(File.ReadAllText(manifest)).RootElement.GetProperty("memoryMiB").GetInt32() == SandboxWorkload.DefaultMemoryMiB)
            {
                return t;
            }
        }
        throw new InvalidOperationException($"no 256 MiB template under {dir}; did the first sandbox run start from one?");
    }

    /// <summary>
    /// Starts <paramref name="count"/> idle sandboxes (<c>echo idle; exec sleep</c>) through the CLI and returns the PSS of
    /// each one's QEMU and supervisor, in bytes, at two moments: <c>Idle</c>, 5 s after its workload printed (nothing has
    /// been asked of the guest since it started: the moment P5-M was measured by hand), and <c>AfterExec</c>, 5 s after
    /// one <c>strata exec NAME -- true</c> (the exec agent, its shell and busybox's base64 and dd then ran in the guest:
    /// TCG translated them and the clone wrote its own copies of the pages they touched).
    /// </summary>
    public static (List<long> Idle, List<long> AfterExec) IdlePss(string strata, int count, bool noTemplate)
    {
        var names = new List<string>();
        try
        {
            for (var i = 0; i < count; i++)
            {
                var name = $"idle-{(noTemplate ? "cold" : "tpl")}-{i}-{Guid.NewGuid().ToString("N")[..6]}";
                string[] args = ["run", "-d", "--name", name, "--tier", "sandbox", .. (noTemplate ? new[] { "--no-template" } : []), "busybox", "--", "sh", "-c", "echo idle; exec sleep 3600"];
                Run(strata, args);
                names.Add(name);
            }
            foreach (var name in names)
            {
                var deadline = DateTime.UtcNow.AddMinutes(3);
                while (!RunOut(strata, "logs", name).Contains("idle", StringComparison.Ordinal))
                {
                    if (DateTime.UtcNow > deadline)
                    {
                        throw new InvalidOperationException($"sandbox {name} never printed its first line");
                    }
                    Thread.Sleep(250);
                }
            }
            Thread.Sleep(5000); // settle: the guest's boot-time work is over
            var idle = PssOf(strata, names);
            foreach (var name in names)
            {
                var deadline = DateTime.UtcNow.AddMinutes(3);
                while (!TryRun(strata, "exec", name, "--", "true"))
                {
                    if (DateTime.UtcNow > deadline)
                    {
                        throw new InvalidOperationException($"sandbox {name} never answered an exec");
                    }
                    Thread.Sleep(250);
                }
            }
            Thread.Sleep(5000);
            return (idle, PssOf(strata, names));
        }
        finally
        {
            foreach (var name in names)
            {
                TryRun(strata, "rm", "-f", name);
            }
        }
    }

    private static List<long> PssOf(string strata, List<string> names) => names.Select(name =>
    {
        var pid = JsonDocument.Parse(RunOut(strata, "inspect", name, "--json")).RootElement.GetProperty("pid").GetInt32();
        return Pss(pid) + Pss(ParentOf(pid));
    }).ToList();

    private static long Pss(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/smaps_rollup"))
        {
            if (line.StartsWith("Pss:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            }
        }
        return 0;
    }

    private static int ParentOf(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], CultureInfo.InvariantCulture);
    }

    private static void Run(string file, params string[] args)
    {
        if (!TryRun(file, args))
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed");
        }
    }

    private static bool TryRun(string file, params string[] args)
    {
        using var p = Start(file, args);
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return p.ExitCode == 0;
    }

    private static string RunOut(string file, params string[] args)
    {
        using var p = Start(file, args);
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return output;
    }

    private static Process Start(string file, string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        var p = Process.Start(start)!;
        _ = p.StandardError.ReadToEndAsync();
        return p;
    }
}
