using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Strata.Client;
using Strata.Contracts;

namespace Strata.Cli;

/// <summary>
/// The <c>strata</c> command line. Exit codes: 0 success; 1 an API error (the message says what and how to fix
/// it); 2 bad usage; 125 <c>run</c> could not create or start the workload; otherwise an attached <c>run</c>
/// exits with the workload's own exit code.
/// </summary>
public static partial class StrataCli
{
    public const int ExitError = 1;
    public const int ExitUsage = 2;
    public const int ExitRunFailed = 125;

    private static readonly Option<string?> SocketOption = new("--socket") { Description = "daemon unix socket (default /run/strata/strata.sock, or STRATA_SOCKET)", Recursive = true };
    private static readonly Option<string?> HostOption = new("--host") { Description = "daemon TCP address such as 127.0.0.1:7070 (or STRATA_HOST); needs --token", Recursive = true };
    private static readonly Option<string?> TokenOption = new("--token") { Description = "bearer token: needed with --host; on the socket it makes the CLI act as the token (its project and role) instead of the host administrator (or STRATA_TOKEN, or \"token\" in the config file)", Recursive = true };
    private static readonly Option<string?> ProjectOption = new("--project") { Description = "project to act in (or STRATA_PROJECT; default: a token's own project, else default)", Recursive = true };

    public static async Task<int> RunAsync(string[] args)
    {
        _ = StartedAt;
        // Everything after a bare "--" is the workload's command line, never options of ours.
        var split = Array.IndexOf(args, "--");
        var ours = split >= 0 ? args[..split] : args;
        var trailing = split >= 0 ? args[(split + 1)..] : null;

        var verb = VerbIndex(ours);
        if (verb >= 0 && ours[verb] == "daemon" && (ours.Length == verb + 1 || ours[verb + 1] != "stop"))
        {
            // Every flag after the verb belongs to stratad (including --socket, also one of our global options).
            return DaemonCommands.Exec(ours[(verb + 1)..]);
        }
        var root = new RootCommand("strata — run any workload on the isolation tier that fits it: process, container, sandbox, vm, wasm");
        root.Options.Add(SocketOption);
        root.Options.Add(HostOption);
        root.Options.Add(TokenOption);
        root.Options.Add(ProjectOption);
        root.Subcommands.Add(InstanceCommands.Run(trailing));
        if (verb >= 0 && ours[verb] == "run")
        {
            // The hot path (`strata run --rm ...` is measured against runc itself): only the command in use is built.
            return await ParseAndInvokeAsync(root, ours, trailing, verb).ConfigureAwait(false);
        }
        if (Console.IsOutputRedirected)
        {
            // Tables piped into files or other programs must not wrap at an imaginary 80 columns. (Not on the run
            // path above: it prints no tables, and initializing Spectre.Console costs a run its start-up time.)
            Spectre.Console.AnsiConsole.Profile.Width = 512;
        }
        root.Subcommands.Add(InstanceCommands.Run(trailing, createOnly: true));
        root.Subcommands.Add(DaemonCommands.Build());
        root.Subcommands.Add(InsideCommands.Exec(trailing));
        root.Subcommands.Add(InsideCommands.Stats());
        root.Subcommands.Add(InsideCommands.Top());
        root.Subcommands.Add(RecommendCommands.Recommend());
        root.Subcommands.Add(RecommendCommands.Update());
        root.Subcommands.Add(ConsoleCommands.Console());
        foreach (var command in InstanceCommands.Others())
        {
            root.Subcommands.Add(command);
        }
        root.Subcommands.Add(AdvisorCommands.Advise());
        root.Subcommands.Add(AdvisorCommands.Apply());
        root.Subcommands.Add(PlanCommands.Plan());
        root.Subcommands.Add(RebalanceCommands.Rebalance());
        root.Subcommands.Add(BenchCommands.Build());
        root.Subcommands.Add(SnapshotCommands.Build());
        root.Subcommands.Add(SnapshotCommands.Resize());
        root.Subcommands.Add(ImageCommands.Build());
        root.Subcommands.Add(NetworkCommands.Build());
        root.Subcommands.Add(OperationCommands.Build());
        root.Subcommands.Add(MoveCommands.Move());
        root.Subcommands.Add(ProjectCommands.Build());
        root.Subcommands.Add(ClusterCommands.Cluster());
        root.Subcommands.Add(ClusterCommands.Node());
        root.Subcommands.Add(SystemCommands.Info());
        root.Subcommands.Add(SystemCommands.Events());
        root.Subcommands.Add(SystemCommands.Version());
        root.Subcommands.Add(Ui());
        return await ParseAndInvokeAsync(root, ours, trailing, verb).ConfigureAwait(false);
    }

    private static async Task<int> ParseAndInvokeAsync(RootCommand root, string[] ours, string[]? trailing, int verb)
    {
        if (trailing is not null && (verb < 0 || ours[verb] is not ("run" or "create" or "exec")))
        {
            Console.Error.WriteLine("strata: '--' is only used by 'strata run', 'strata create' and 'strata exec' to separate the command; see 'strata run --help'");
            return ExitUsage;
        }

        var parse = root.Parse(ours);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors)
            {
                Console.Error.WriteLine($"strata: {error.Message}");
            }
            Console.Error.WriteLine("Run 'strata --help' for usage.");
            return ExitUsage;
        }
        // Ctrl-C cancels the action's token; by default the process is ended 2 s later. A bench must still remove
        // every instance it started (stopping a VM takes longer), so it gets time to clean up.
        var invocation = verb >= 0 && ours[verb] == "bench" ? new InvocationConfiguration { ProcessTerminationTimeout = BenchCommands.CleanupGrace } : null;
        return await parse.InvokeAsync(invocation).ConfigureAwait(false);
    }

    /// <summary>Where the command word is: global options (and their values) may come before it.</summary>
    internal static int VerbIndex(string[] tokens)
    {
        for (var i = 0; i < tokens.Length; i++)
        {
            var t = tokens[i];
            if (t is "--socket" or "--host" or "--token" or "--project")
            {
                i++; // its value
                continue;
            }
            if (!t.StartsWith('-'))
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>The project named by --project or STRATA_PROJECT, if any.</summary>
    internal static string? ProjectName(ParseResult parse) =>
        parse.GetValue(ProjectOption) ?? (Environment.GetEnvironmentVariable("STRATA_PROJECT") is { Length: > 0 } p ? p : null);

    /// <summary>When this CLI process entered Main (sent to the daemon for its run timeline).</summary>
    internal static readonly DateTimeOffset StartedAt = DateTimeOffset.UtcNow;

    internal static StrataClient Client(ParseResult parse) => new(ClientOptions.FromEnvironment(
        parse.GetValue(SocketOption), parse.GetValue(HostOption), parse.GetValue(TokenOption), parse.GetValue(ProjectOption)) with { StartedAt = StartedAt });

    /// <summary>Runs an action and turns failures into a message and an exit code.</summary>
    internal static async Task<int> Guard(Func<Task<int>> action, int errorCode = ExitError)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (StrataApiException e)
        {
            Console.Error.WriteLine($"strata: {e.Message}");
            return errorCode;
        }
        catch (DaemonUnreachableException e)
        {
            Console.Error.WriteLine($"strata: {e.Message}");
            return errorCode;
        }
        catch (StrataException e)
        {
            Console.Error.WriteLine($"strata: {e.Message}");
            return ExitUsage;
        }
        catch (OperationCanceledException)
        {
            return 130;
        }
    }

    internal static void WriteJson<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        using var stdout = Console.OpenStandardOutput();
        JsonSerializer.Serialize(stdout, value, type);
        stdout.Write("\n"u8);
    }

    /// <summary>Sizes as the CLI takes them; a sign passes through so the daemon names the out-of-range field.</summary>
    internal static long ParseSize(string option, string text) => Sizes.Parse(option, text, allowNegative: true);

    internal static string Ago(DateTimeOffset? time)
    {
        if (time is not { } t)
        {
            return "-";
        }
        var d = DateTimeOffset.UtcNow - t;
        return d.TotalSeconds < 60 ? $"{Math.Max(0, (int)d.TotalSeconds)}s ago"
            : d.TotalMinutes < 60 ? $"{(int)d.TotalMinutes}m ago"
            : d.TotalHours < 48 ? $"{(int)d.TotalHours}h ago"
            : $"{(int)d.TotalDays}d ago";
    }

    [LibraryImport("libc", EntryPoint = "execv", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int Execv(string path, [MarshalAs(UnmanagedType.LPArray, ArraySubType = UnmanagedType.LPUTF8Str)] string?[] argv);
}
