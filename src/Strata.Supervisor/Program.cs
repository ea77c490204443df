using System.Text;
using Strata.Node.Supervision;

namespace Strata.Supervisor;

/// <summary>
/// strata-supervisor: one small process per running instance (protocol in docs/supervisor.md).
///   run CONFIG_JSON          supervise a workload: stdio → CRI logs, exit → exit file
///   standby                  a spare started ahead of time: reads CONFIG_JSON's path as one line on stdin,
///                            then behaves as `run` (EOF first: exits 0 without doing anything)
///   exec [--cwd DIR] [--status-fd N] [CGROUP_PROCS...] -- ARGV...
///                            internal: join cgroups, chdir, exec (the child side of run)
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length >= 1 && args[0] == "exec")
        {
            return ExecMode.Run(args.AsSpan(1));
        }
        if (args.Length == 2 && args[0] == "run")
        {
            return RunMode.Run(args[1]);
        }
        if (args.Length == 1 && args[0] == "standby")
        {
            Standby.WarmUp();
            return Standby.ReadConfigPath() is { } path ? RunMode.Run(path) : 0;
        }
        var usage = "usage: strata-supervisor run CONFIG_JSON\n       strata-supervisor standby\n       strata-supervisor exec [--cwd DIR] [--status-fd N] [CGROUP_PROCS_FILE...] -- ARGV0 [ARGS...]\n"u8;
        Libc.WriteAll(2, usage);
        return 2;
    }

    /// <summary>Writes one line to stderr without touching System.Console (keeps the binary and its memory small).</summary>
    internal static void Error(string message) => Libc.WriteAll(2, Encoding.UTF8.GetBytes("strata-supervisor: " + message + "\n"));
}
