using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Spectre.Console;
using Strata.Client;
using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Cli;

/// <summary><c>exec</c>, <c>stats</c>, <c>top</c>: looking inside running instances.</summary>
internal static class InsideCommands
{
    public static Command Exec(string[]? trailing)
    {
        var interactive = new Option<bool>("--interactive", "-i") { Description = "forward stdin to the command (container and sandbox tiers)" };
        var tty = new Option<bool>("--tty", "-t") { Description = "run the command on a terminal (container and sandbox tiers); raw mode when stdin is one" };
        var env = new Option<string[]>("--env", "-e") { Description = "environment variable K=V (repeatable)" };
        var workdir = new Option<string?>("--workdir", "-w") { Description = "working directory inside the instance" };
        var user = new Option<string?>("--user", "-u") { Description = "USER[:GROUP] to run as" };
        var positional = new Argument<string[]>("name-and-command") { Description = "NAME [CMD ARGS...]; or NAME -- CMD ARGS", Arity = ArgumentArity.OneOrMore };
        var command = new Command("exec", "Run a command in a running instance; prints its output and exits with its exit code")
        {
            interactive, tty, env, workdir, user, positional,
        };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            var words = parse.GetValue(positional) ?? [];
            var name = words[0];
            string[] argv = [.. words.Skip(1), .. trailing ?? []];
            if (argv.Length == 0)
            {
                throw StrataException.Invalid("command", "give the command to run: strata exec NAME -- CMD ARGS");
            }
            using var client = StrataCli.Client(parse);
            using var stdout = Console.OpenStandardOutput();
            using var stderr = Console.OpenStandardError();
            var request = new ExecRequest
            {
                Command = argv,
                Env = InstanceCommands.Pairs("--env", parse.GetValue(env)),
                WorkingDir = parse.GetValue(workdir),
                User = parse.GetValue(user),
                Tty = parse.GetValue(tty),
            };
            if (parse.GetValue(interactive) || request.Tty)
            {
                return await AttachedAsync(client, name, request, parse.GetValue(interactive), stdout, stderr, ct);
            }
            await foreach (var frame in client.ExecAsync(name, request, ct))
            {
                if (frame.Log is { } log)
                {
                    var target = log.Stream == "stderr" ? stderr : stdout;
                    target.Write(Encoding.UTF8.GetBytes(log.Partial ? log.Text : log.Text + "\n"));
                    target.Flush();
                }
                else if (frame.Exit is { } exit)
                {
                    return exit.ExitCode ?? 0;
                }
            }
            Console.Error.WriteLine("strata: the daemon closed the stream before the command finished");
            return StrataCli.ExitError;
        }));
        return command;
    }

    /// <summary>exec -i/-t over the attach WebSocket; the terminal goes raw only with -t on a real terminal.</summary>
    private static async Task<int> AttachedAsync(StrataClient client, string name, ExecRequest request, bool interactive, Stream stdout, Stream stderr, CancellationToken ct)
    {
        var terminal = request.Tty && !Console.IsInputRedirected;
        var (columns, rows) = request.Tty ? RawTerminal.Size() : ((ushort)0, (ushort)0);
        using var attachment = await client.AttachExecAsync(name, request, columns, rows, ct);
        // Without -i nothing is sent: the command's input stays open and empty, as with docker exec -t.
        using var stdin = interactive ? Console.OpenStandardInput() : null;
        using var resized = request.Tty ? PosixSignalRegistration.Create(PosixSignal.SIGWINCH, signal =>
        {
            var (c, r) = RawTerminal.Size();
            if (c > 0)
            {
                _ = attachment.ResizeAsync(c, r, CancellationToken.None).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }) : null;
        using var raw = terminal && interactive ? RawTerminal.Enter() : null;
        return await attachment.RunAsync(stdin, stdout, stderr, ct);
    }

    public static Command Stats()
    {
        var names = new Argument<string[]>("name") { Description = "instances (default: every running one that has stats)", Arity = ArgumentArity.ZeroOrMore };
        var json = new Option<bool>("--json") { Description = "print JSON instead of a table" };
        var history = new Option<bool>("--history") { Description = "chart one instance's recent samples (the last hour at the daemon's sampling interval)" };
        var command = new Command("stats", "CPU, memory and process counts of running instances") { names, json, history };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            if (parse.GetValue(history))
            {
                if (parse.GetValue(names) is not [var one])
                {
                    Console.Error.WriteLine("strata: stats --history charts one instance: give exactly one name");
                    return StrataCli.ExitUsage;
                }
                var view = await client.UsageHistoryAsync(one, ct);
                if (parse.GetValue(json))
                {
                    StrataCli.WriteJson(view, StrataJsonContext.Default.UsageHistoryView);
                }
                else
                {
                    Console.Write(RecommendCommands.Chart(view));
                }
                return 0;
            }
            var wanted = parse.GetValue(names) is { Length: > 0 } given ? given
                : [.. (await client.ListAsync(ct)).Items.Where(i => i.State == "running").Select(i => i.Name)];
            var results = await Task.WhenAll(wanted.Select(n => client.StatsAsync(n, ct)));
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(results.ToList(), StrataJsonContext.Default.ListInstanceStats);
                return 0;
            }
            // vm and sandbox: MEM is what the guest uses (its balloon driver's figures) of what it has; HOST is QEMU's RSS / PSS.
            var host = results.Any(s => s.HostRssBytes is not null);
            var table = host ? InstanceCommands.NewTable("NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS", "HOST RSS / PSS")
                : InstanceCommands.NewTable("NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS");
            foreach (var s in results)
            {
                var limit = s.MemoryLimitBytes is { } l ? Size(l) : "unlimited";
                var percent = s.MemoryLimitBytes is { } m and > 0 ? (100.0 * s.MemoryBytes / m).ToString("0.0", CultureInfo.InvariantCulture) + "%" : "-";
                var cells = new List<Spectre.Console.Rendering.IRenderable>
                {
                    InstanceCommands.Cell(s.Name), InstanceCommands.Cell(s.CpuPercent.ToString("0.0", CultureInfo.InvariantCulture) + "%"),
                    InstanceCommands.Cell($"{Size(s.MemoryBytes)} / {limit}"), InstanceCommands.Cell(percent),
                    InstanceCommands.Cell(s.PidsLimit is { } p ? $"{s.Pids} / {p}" : s.Pids.ToString(CultureInfo.InvariantCulture)),
                };
                if (host)
                {
                    cells.Add(InstanceCommands.Cell(s.HostRssBytes is { } rss ? $"{Size(rss)} / {Size(s.HostPssBytes ?? rss)}" : "-"));
                }
                table.AddRow(cells);
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    public static Command Top()
    {
        var name = new Argument<string>("name");
        var json = new Option<bool>("--json") { Description = "print JSON instead of a table" };
        var command = new Command("top", "The processes of a running instance (host PIDs)") { name, json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var list = await client.TopAsync(parse.GetValue(name)!, ct);
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(list, StrataJsonContext.Default.ProcessList);
                return 0;
            }
            var table = InstanceCommands.NewTable("PID", "PPID", "UID", "S", "TIME", "RSS", "COMMAND");
            foreach (var p in list.Processes)
            {
                var time = TimeSpan.FromSeconds(p.CpuSeconds);
                table.AddRow(InstanceCommands.Cell(p.Pid.ToString(CultureInfo.InvariantCulture)), InstanceCommands.Cell(p.ParentPid.ToString(CultureInfo.InvariantCulture)),
                    InstanceCommands.Cell(p.Uid.ToString(CultureInfo.InvariantCulture)), InstanceCommands.Cell(p.State),
                    InstanceCommands.Cell($"{(int)time.TotalMinutes}:{time.Seconds:00}"), InstanceCommands.Cell(Size(p.RssBytes)),
                    InstanceCommands.Cell(p.Command.Length > 80 ? p.Command[..77] + "..." : p.Command));
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static string Size(long bytes) => bytes switch
    {
        >= 1L << 30 => (bytes / (double)(1L << 30)).ToString("0.00", CultureInfo.InvariantCulture) + "GiB",
        >= 1L << 20 => (bytes / (double)(1L << 20)).ToString("0.0", CultureInfo.InvariantCulture) + "MiB",
        >= 1L << 10 => (bytes / (double)(1L << 10)).ToString("0.0", CultureInfo.InvariantCulture) + "KiB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + "B",
    };
}
