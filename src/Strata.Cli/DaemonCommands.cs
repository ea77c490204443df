using System.CommandLine;

namespace Strata.Cli;

/// <summary><c>strata daemon [flags]</c> runs stratad in the foreground; <c>strata daemon stop [--all]</c> stops it.</summary>
internal static class DaemonCommands
{
    public static Command Build()
    {
        var command = new Command("daemon", "Run the Strata daemon in the foreground (flags as for stratad: --root, --socket, --listen, --token-file, --log-max-size)")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        var passthrough = new Argument<string[]>("stratad-flags") { Arity = ArgumentArity.ZeroOrMore, Description = "flags passed to stratad; see 'stratad --help'" };
        command.Arguments.Add(passthrough);
        command.SetAction(parse => Exec([.. parse.GetValue(passthrough) ?? [], .. parse.UnmatchedTokens]));

        var all = new Option<bool>("--all") { Description = "stop every instance first (by default they keep running)" };
        var stop = new Command("stop", "Stop the daemon; instances keep running unless --all") { all };
        stop.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            await client.StopDaemonAsync(parse.GetValue(all), ct);
            Console.WriteLine(parse.GetValue(all) ? "stopped every instance and the daemon" : "daemon stopping; instances keep running");
            return 0;
        }));
        command.Subcommands.Add(stop);
        return command;
    }

    /// <summary>Replaces this process with stratad, so signals reach the daemon directly.</summary>
    internal static int Exec(string[] flags)
    {
        var daemon = Locate();
        if (daemon is null)
        {
            Console.Error.WriteLine("strata: stratad was not found next to strata, in /usr/local/lib/strata, or on PATH; install Strata with scripts/setup.sh");
            return StrataCli.ExitError;
        }
        string?[] argv = [daemon, .. flags, null];
        StrataCli.Execv(daemon, argv);
        Console.Error.WriteLine($"strata: could not start {daemon} (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()})");
        return StrataCli.ExitError;
    }

    internal static string? Locate()
    {
        var candidates = new List<string>
        {
            Path.Combine(AppContext.BaseDirectory, "stratad"),
            "/usr/local/lib/strata/stratad",
        };
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            candidates.Add(Path.Combine(dir, "stratad"));
        }
        return candidates.FirstOrDefault(File.Exists);
    }
}
