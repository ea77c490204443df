using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Spectre.Console;
using Strata.Client;
using Strata.Contracts;

namespace Strata.Cli;

/// <summary><c>run</c>, <c>ps</c>, <c>inspect</c>, <c>logs</c>, <c>start</c>, <c>stop</c>, <c>kill</c>, <c>rm</c>, <c>wait</c>.</summary>
internal static class InstanceCommands
{
    private static Option<bool> Json() => new("--json") { Description = "print JSON instead of a table" };

    /// <summary><c>run</c>, or with <paramref name="createOnly"/> <c>create</c>: the same options, but the instance is only created.</summary>
    public static Command Run(string[]? trailing, bool createOnly = false)
    {
        var tier = new Option<string?>("--tier") { Description = "process | container | sandbox | vm | wasm | auto (default auto)" };
        var name = new Option<string?>("--name") { Description = "instance name (DNS label; generated when omitted)" };
        var rm = new Option<bool>("--rm") { Description = "remove the instance when it finishes" };
        var disposable = new Option<bool>("--disposable") { Description = "discard every change the workload makes when it stops (vm: a fresh disk overlay each run)" };
        var noTemplate = new Option<bool>("--no-template") { Description = "boot the guest cold instead of from its image's booted template (sandbox tier, and OCI VMs on the vm tier)" };
        var detach = new Option<bool>("--detach", "-d") { Description = "start it and print its name instead of attaching" };
        var env = new Option<string[]>("--env", "-e") { Description = "environment variable K=V (repeatable)", AllowMultipleArgumentsPerToken = false };
        var cpus = new Option<double?>("--cpus") { Description = "CPU limit in cores, e.g. 0.5" };
        var memory = new Option<string?>("--memory", "-m") { Description = "memory limit, e.g. 64M, 1G" };
        var pids = new Option<long?>("--pids") { Description = "maximum number of processes" };
        var disk = new Option<string?>("--disk") { Description = "disk space to account the instance for against its project's disk quota, e.g. 10G" };
        var restart = new Option<string?>("--restart") { Description = "no | on-failure[:N] | always" };
        var rightsize = RecommendCommands.RightsizeOption();
        var workdir = new Option<string?>("--workdir", "-w") { Description = "working directory of the workload" };
        var labels = new Option<string[]>("--label", "-l") { Description = "label K=V (repeatable)" };
        var volumes = new Option<string[]>("--volume", "-v") { Description = "grant a host directory: HOST:GUEST[:ro] (repeatable); wasm sees nothing else of the host" };
        var timeout = new Option<string?>("--timeout") { Description = "end the run after this long and fail it with 'limit: timeout', e.g. 500ms, 30s, 5m (wasm tier)" };
        var cpuset = new Option<string?>("--cpuset") { Description = "CPUs the workload may use, e.g. 0-1,3 (container tier)" };
        var readOnly = new Option<bool>("--read-only") { Description = "mount the root filesystem read-only (container tier)" };
        var user = new Option<string?>("--user", "-u") { Description = "USER[:GROUP] as uid/gid or names from the image (container tier)" };
        var capAdd = new Option<string[]>("--cap-add") { Description = "add a Linux capability, e.g. NET_ADMIN, or ALL (repeatable)" };
        var capDrop = new Option<string[]>("--cap-drop") { Description = "drop a Linux capability, or ALL (repeatable)" };
        var device = new Option<string[]>("--device") { Description = "host device HOST[:CONTAINER], e.g. /dev/fuse (repeatable)" };
        var network = new Option<string?>("--network") { Description = "none (default: own namespace, loopback only) | host | NAME of a network (strata0 is the default bridge)" };
        var publish = new Option<string[]>("--publish", "-p") { Description = "publish a port: [IP:]HOST_PORT:PORT[/tcp|udp], e.g. 127.0.0.1:8080:80 (repeatable; joins strata0 unless --network names one)" };
        var entrypoint = new Option<string?>("--entrypoint") { Description = "replace the image's ENTRYPOINT (its CMD is then dropped unless arguments are given)" };
        var isolation = AdvisorCommands.IsolationOption();
        var trust = AdvisorCommands.TrustOption();
        var arch = new Option<string?>("--arch") { Description = "guest architecture: amd64 (default) | arm64 (vm tier, under qemu-system-aarch64)" };
        var json = Json();
        var dryRun = new Option<bool>("--dry-run") { Description = "in a cluster: show the node the scheduler would choose and why, create nothing" };
        var positional = new Argument<string[]>("image-and-command") { Description = "IMAGE [CMD ARGS...]; the process tier takes no image: strata run --tier process -- CMD ARGS", Arity = ArgumentArity.ZeroOrMore };

        var command = new Command(createOnly ? "create" : "run", createOnly
            ? "Create an instance without starting it (start it with 'strata start'); prints its name"
            : "Create and start an instance; attached runs stream its output and exit with its exit code")
        {
            tier, name, rm, disposable, noTemplate, detach, env, cpus, memory, pids, disk, restart, rightsize, workdir, labels, volumes, timeout, cpuset, readOnly, user, capAdd, capDrop, device,
            network, publish, entrypoint, isolation, trust, arch, json, dryRun, positional,
        };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            var words = parse.GetValue(positional) ?? [];
            var tierValue = parse.GetValue(tier);
            string? image;
            IReadOnlyList<string>? args;
            if (tierValue == TierNames.Process)
            {
                // The process tier has no image: every word is the command.
                image = null;
                args = [.. words, .. trailing ?? []];
            }
            else
            {
                image = words.FirstOrDefault();
                // A module file on this machine: the daemon needs its absolute path (it resolves nothing relative to us).
                if (image is not null && (image.EndsWith(".wasm", StringComparison.OrdinalIgnoreCase) || image.EndsWith(".wat", StringComparison.OrdinalIgnoreCase)) && File.Exists(image))
                {
                    image = Path.GetFullPath(image);
                }
                args = words.Length > 1 || trailing is not null ? [.. words.Skip(1), .. trailing ?? []] : null;
            }
            // No image and no tier: the daemon's advisor decides, and refuses a bare host command unless
            // --isolation none says the workload wants the host (docs/advisor.md, R16).

            var mem = parse.GetValue(memory);
            var resources = parse.GetValue(cpus) is null && mem is null && parse.GetValue(pids) is null && parse.GetValue(cpuset) is null && parse.GetValue(disk) is null ? null : new ResourceSpec
            {
                Cpus = parse.GetValue(cpus),
                MemoryBytes = mem is null ? null : StrataCli.ParseSize("--memory", mem),
                Pids = parse.GetValue(pids),
                Cpuset = parse.GetValue(cpuset),
                DiskBytes = parse.GetValue(disk) is { } diskText ? StrataCli.ParseSize("--disk", diskText) : null,
            };
            var caps = (Add: parse.GetValue(capAdd) ?? [], Drop: parse.GetValue(capDrop) ?? []);
            var devices = parse.GetValue(device) ?? [];
            var security = !parse.GetValue(readOnly) && parse.GetValue(user) is null && caps.Add.Length == 0 && caps.Drop.Length == 0 && devices.Length == 0 ? null : new SecuritySpec
            {
                ReadOnlyRootfs = parse.GetValue(readOnly),
                User = parse.GetValue(user),
                CapAdd = caps.Add.Length > 0 ? caps.Add : null,
                CapDrop = caps.Drop.Length > 0 ? caps.Drop : null,
                Devices = devices.Length > 0 ? devices : null,
            };
            var entry = parse.GetValue(entrypoint);
            var spec = new InstanceSpec
            {
                Name = parse.GetValue(name),
                Tier = tierValue,
                Image = image,
                Command = entry is null ? null : [entry],
                Args = args is { Count: > 0 } ? args : null,
                Env = Pairs("--env", parse.GetValue(env)),
                Security = security,
                Network = parse.GetValue(network),
                Ports = parse.GetValue(publish) is { Length: > 0 } published ? [.. published.Select(p => PortSpec.Parse(p, "--publish"))] : null,
                Labels = Pairs("--label", parse.GetValue(labels)),
                WorkingDir = parse.GetValue(workdir),
                Resources = resources,
                Restart = parse.GetValue(restart),
                Rightsize = parse.GetValue(rightsize),
                AutoRemove = parse.GetValue(rm),
                Disposable = parse.GetValue(disposable),
                NoTemplate = parse.GetValue(noTemplate),
                Mounts = Volumes(parse.GetValue(volumes)),
                TimeoutSeconds = parse.GetValue(timeout) is { } t ? ParseDuration("--timeout", t).TotalSeconds : null,
                Requirements = AdvisorCommands.RunRequirements(parse.GetValue(isolation), parse.GetValue(trust)) is var requirements && parse.GetValue(arch) is { } guestArch
                    ? (requirements ?? new WorkloadRequirements()) with { Arch = guestArch }
                    : requirements,
            };

            using var client = StrataCli.Client(parse);
            if (parse.GetValue(dryRun))
            {
                var plan = await client.DryRunAsync(spec, ct);
                if (parse.GetValue(json))
                {
                    StrataCli.WriteJson(plan, StrataJsonContext.Default.InstanceInfo);
                    return 0;
                }
                Console.Out.WriteLine($"node:            {plan.Details?.GetValueOrDefault("node") ?? "-"}");
                Console.Out.WriteLine($"Why this node:   {plan.Details?.GetValueOrDefault("whyNode") ?? plan.Details?.GetValueOrDefault("error") ?? "-"}");
                Console.Out.WriteLine($"tier:            {plan.Tier}");
                return plan.Details?.ContainsKey("error") == true ? StrataCli.ExitError : 0;
            }
            if (createOnly || parse.GetValue(detach))
            {
                var created = await CreateProgressView.CreateAsync(client, spec, start: !createOnly, ct);
                if (parse.GetValue(json))
                {
                    StrataCli.WriteJson(created, StrataJsonContext.Default.InstanceInfo);
                }
                else
                {
                    Console.WriteLine(created.Name);
                }
                return 0;
            }
            return await AttachAsync(client, spec, ct);
        }, StrataCli.ExitRunFailed));
        return command;
    }

    /// <summary>Streams an attached run. Ctrl-C stops the instance (SIGTERM, then kill after 10 s) and keeps streaming.</summary>
    private static async Task<int> AttachAsync(StrataClient client, InstanceSpec spec, CancellationToken ct)
    {
        using var stdout = Console.OpenStandardOutput();
        using var stderr = Console.OpenStandardError();
        string? instance = null;
        var interrupted = 0;
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
        {
            context.Cancel = true;
            if (instance is { } n && Interlocked.Exchange(ref interrupted, 1) == 0)
            {
                Console.Error.WriteLine($"strata: stopping {n} (press Ctrl-C again to leave it running)");
                _ = client.StopAsync(n, 10, CancellationToken.None);
            }
            else
            {
                Environment.Exit(130);
            }
        });
        await foreach (var frame in client.RunOutputAsync(spec, CancellationToken.None))
        {
            if (frame.InstanceName is { } name)
            {
                instance = name;
            }
            else if (frame.Log is { } log)
            {
                var target = log.Stream == "stderr" ? stderr : stdout;
                var bytes = Encoding.UTF8.GetBytes(log.Partial ? log.Text : log.Text + "\n");
                target.Write(bytes);
                target.Flush();
            }
            else if (frame.Exit is { } exit)
            {
                if (exit.State == "failed")
                {
                    Console.Error.WriteLine($"strata: {exit.Name} failed: {exit.Reason}");
                    return exit.ExitCode is { } c and > 0 ? c : StrataCli.ExitRunFailed;
                }
                return exit.ExitCode ?? 0;
            }
        }
        Console.Error.WriteLine("strata: the daemon closed the stream before the instance finished; see 'strata ps -a'");
        return StrataCli.ExitRunFailed;
    }

    /// <summary><c>HOST:GUEST[:ro|:rw]</c>; a relative host path is taken from the current directory.</summary>
    internal static IReadOnlyList<MountSpec>? Volumes(string[]? values)
    {
        if (values is null or { Length: 0 })
        {
            return null;
        }
        var mounts = new List<MountSpec>(values.Length);
        foreach (var v in values)
        {
            var parts = v.Split(':');
            var readOnly = false;
            if (parts.Length == 3 && parts[2] is "ro" or "rw")
            {
                readOnly = parts[2] == "ro";
            }
            else if (parts.Length != 2)
            {
                throw StrataException.Invalid("--volume", $"'{v}' is not HOST:GUEST or HOST:GUEST:ro");
            }
            if (parts[0].Length == 0 || !parts[1].StartsWith('/'))
            {
                throw StrataException.Invalid("--volume", $"'{v}': give a host path and an absolute path inside the instance, e.g. /tmp/x:/data");
            }
            mounts.Add(new MountSpec { Source = Path.GetFullPath(parts[0]), Target = parts[1], ReadOnly = readOnly });
        }
        return mounts;
    }

    /// <summary><c>250ms</c>, <c>30s</c>, <c>5m</c>, <c>1h</c>, or a plain number of seconds.</summary>
    internal static TimeSpan ParseDuration(string option, string text)
    {
        var (number, unit) = text.EndsWith("ms", StringComparison.Ordinal) ? (text[..^2], 0.001)
            : text.EndsWith('s') ? (text[..^1], 1.0)
            : text.EndsWith('m') ? (text[..^1], 60.0)
            : text.EndsWith('h') ? (text[..^1], 3600.0)
            : (text, 1.0);
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value <= 0 || double.IsInfinity(value))
        {
            throw StrataException.Invalid(option, $"'{text}' is not a duration; use e.g. 500ms, 30s, 5m");
        }
        return TimeSpan.FromSeconds(value * unit);
    }

    internal static Dictionary<string, string>? Pairs(string option, string[]? values)
    {
        if (values is null or { Length: 0 })
        {
            return null;
        }
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var v in values)
        {
            var eq = v.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                // -e NAME alone passes the caller's value through, as docker does.
                var inherited = Environment.GetEnvironmentVariable(v);
                if (eq == 0 || inherited is null)
                {
                    throw StrataException.Invalid(option, $"'{v}' is not KEY=VALUE");
                }
                result[v] = inherited;
                continue;
            }
            result[v[..eq]] = v[(eq + 1)..];
        }
        return result;
    }

    public static IEnumerable<Command> Others()
    {
        yield return Ps();
        yield return Inspect();
        yield return Logs();
        yield return Simple("start", "Start created or finished instances", async (c, n, _, ct) => { await c.StartAsync(n, ct); });
        var timeout = new Option<int>("--time", "-t") { Description = "seconds to wait after SIGTERM before killing (default 10)", DefaultValueFactory = _ => 10 };
        yield return Simple("stop", "Stop running instances (SIGTERM, then SIGKILL after -t seconds)", async (c, n, p, ct) => { await c.StopAsync(n, p.GetValue(timeout), ct); }, timeout);
        var signal = new Option<string>("--signal", "-s") { Description = "signal name or number (default KILL)", DefaultValueFactory = _ => "KILL" };
        yield return Simple("kill", "Send a signal to running instances", async (c, n, p, ct) => { await c.KillAsync(n, SignalNumber(p.GetValue(signal)!), ct); }, signal);
        var force = new Option<bool>("--force", "-f") { Description = "stop running instances first" };
        yield return Simple("rm", "Remove instances", async (c, n, p, ct) => { await c.DeleteAsync(n, p.GetValue(force), ct); }, force);
        yield return Wait();
        yield return Commit();
    }

    private static Command Commit()
    {
        var name = new Argument<string>("name") { Description = "a stopped (or exited) container" };
        var image = new Argument<string>("image") { Description = "name of the new image, e.g. myapp:1" };
        var cmd = new Option<string[]>("--cmd") { Description = "the new image's Cmd, one word per --cmd (default: the original image's)", AllowMultipleArgumentsPerToken = false };
        var command = new Command("commit", "Turn a stopped container into a new image: its writable layer on top of its image") { name, image, cmd };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var words = parse.GetValue(cmd);
            var summary = await client.CommitAsync(parse.GetValue(name)!, parse.GetValue(image)!, words is { Length: > 0 } ? words : null, ct);
            Console.WriteLine(summary.Id);
            return 0;
        }));
        return command;
    }

    private static int SignalNumber(string text) => text.ToUpperInvariant().Replace("SIG", "", StringComparison.Ordinal) switch
    {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "KILL" => 9,
        "USR1" => 10,
        "USR2" => 12,
        "TERM" => 15,
        "CONT" => 18,
        "STOP" => 19,
        var n when int.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out var number) => number,
        _ => throw StrataException.Invalid("--signal", $"'{text}' is not a signal; use a name such as TERM or KILL, or a number"),
    };

    private static Command Simple(string verb, string description, Func<StrataClient, string, ParseResult, CancellationToken, Task> action, params Option[] options)
    {
        var names = new Argument<string[]>("name") { Description = "instance names", Arity = ArgumentArity.OneOrMore };
        var command = new Command(verb, description) { names };
        foreach (var o in options)
        {
            command.Options.Add(o);
        }
        command.SetAction(async (parse, ct) =>
        {
            using var client = StrataCli.Client(parse);
            var failures = 0;
            foreach (var n in parse.GetValue(names)!)
            {
                var code = await StrataCli.Guard(async () =>
                {
                    await action(client, n, parse, ct);
                    Console.WriteLine(n);
                    return 0;
                });
                failures += code == 0 ? 0 : 1;
            }
            return failures == 0 ? 0 : StrataCli.ExitError;
        });
        return command;
    }

    private static Command Ps()
    {
        var all = new Option<bool>("--all", "-a") { Description = "show every instance, not only running ones" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "print names only" };
        var json = Json();
        var command = new Command("ps", "List instances") { all, quiet, json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var list = await client.ListAsync(ct);
            var items = parse.GetValue(all) ? list.Items : [.. list.Items.Where(i => i.State is "running" or "stopping")];
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(new InstanceList(items), StrataJsonContext.Default.InstanceList);
                return 0;
            }
            if (parse.GetValue(quiet))
            {
                foreach (var i in items)
                {
                    Console.WriteLine(i.Name);
                }
                return 0;
            }
            var table = new PlainTable("NAME", "TIER", "STATE", "PID", "IMAGE / COMMAND", "CREATED", "STATUS");
            foreach (var i in items)
            {
                var what = i.Image ?? string.Join(' ', [.. i.Spec.Command ?? [], .. i.Spec.Args ?? []]);
                table.AddRow(i.Name, i.Tier, i.State, i.Pid?.ToString(CultureInfo.InvariantCulture) ?? "-",
                    what.Length > 40 ? what[..37] + "..." : what, StrataCli.Ago(i.CreatedAt), Status(i));
            }
            table.Write();
            return 0;
        }));
        return command;
    }

    private static string Status(InstanceInfo i) => i.State switch
    {
        "running" => $"up since {StrataCli.Ago(i.StartedAt)}" + (i.RestartCount > 0 ? $", {i.RestartCount} restarts" : ""),
        "exited" or "stopped" => $"exit {i.ExitCode}{(i.Reason is null ? "" : $" ({i.Reason})")} {StrataCli.Ago(i.FinishedAt)}",
        "failed" => i.Reason ?? "failed",
        _ => "",
    };

    internal static Table NewTable(params string[] headers)
    {
        var table = new Table().NoBorder();
        table.ShowHeaders = true;
        foreach (var h in headers)
        {
            table.AddColumn(new TableColumn(new Text(h, new Style(decoration: Decoration.Bold))).PadLeft(0).PadRight(2).NoWrap());
        }
        return table;
    }

    internal static Text Cell(string text) => new(text);

    private static Command Inspect()
    {
        var name = new Argument<string>("name");
        var json = Json();
        var runtimeConfig = new Option<bool>("--runtime-config") { Description = "print the OCI config.json the container runtime runs it with (container tier)" };
        var command = new Command("inspect", "Show everything about one instance") { name, json, runtimeConfig };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            if (parse.GetValue(runtimeConfig))
            {
                Console.Out.WriteLine(await client.RuntimeConfigAsync(parse.GetValue(name)!, ct));
                return 0;
            }
            var i = await client.GetAsync(parse.GetValue(name)!, ct);
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(i, StrataJsonContext.Default.InstanceInfo);
                return 0;
            }
            var grid = new Grid().AddColumn(new GridColumn().PadRight(2)).AddColumn();
            void Row(string k, string? v) => grid.AddRow(new Text(k, new Style(decoration: Decoration.Bold)), new Text(v ?? "-"));
            Row("Name", i.Name);
            Row("Id", i.Id);
            Row("Project", i.Project);
            Row("Tier", i.Tier);
            Row("State", i.State);
            Row("Pid", i.Pid?.ToString(CultureInfo.InvariantCulture));
            Row("Image", i.Image);
            Row("Command", string.Join(' ', [.. i.Spec.Command ?? [], .. i.Spec.Args ?? []]));
            Row("Exit code", i.ExitCode?.ToString(CultureInfo.InvariantCulture));
            Row("Reason", i.Reason);
            Row("Restart", $"{i.Spec.Restart} ({i.RestartCount} restarts)");
            Row("Resources", i.Spec.Resources is { } r ? $"cpus={r.Cpus?.ToString(CultureInfo.InvariantCulture) ?? "-"} memory={r.MemoryBytes?.ToString(CultureInfo.InvariantCulture) ?? "-"} pids={r.Pids?.ToString(CultureInfo.InvariantCulture) ?? "-"}" : "unlimited");
            Row("Created", i.CreatedAt.ToString("u", CultureInfo.InvariantCulture));
            Row("Started", i.StartedAt?.ToString("u", CultureInfo.InvariantCulture));
            Row("Finished", i.FinishedAt?.ToString("u", CultureInfo.InvariantCulture));
            foreach (var (k, v) in i.Details ?? new Dictionary<string, string>())
            {
                if (k != "whyNodeJson")
                {
                    Row(k == "whyNode" ? "Why this node" : k, v);
                }
            }
            AnsiConsole.Write(grid);
            AdvisorCommands.WritePlacement(i.Placement);
            return 0;
        }));
        return command;
    }

    private static Command Logs()
    {
        var name = new Argument<string>("name");
        var follow = new Option<bool>("--follow", "-f") { Description = "keep printing new output until the instance finishes" };
        var tail = new Option<int?>("--tail", "-n") { Description = "only the last N lines" };
        var json = Json();
        var command = new Command("logs", "Print an instance's output (stdout to stdout, stderr to stderr)") { name, follow, tail, json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            using var stdout = Console.OpenStandardOutput();
            using var stderr = Console.OpenStandardError();
            await foreach (var frame in client.LogsAsync(parse.GetValue(name)!, parse.GetValue(tail), parse.GetValue(follow), ct))
            {
                if (frame.Log is not { } log)
                {
                    continue;
                }
                if (parse.GetValue(json))
                {
                    StrataCli.WriteJson(log, StrataJsonContext.Default.LogRecord);
                    continue;
                }
                var target = log.Stream == "stderr" ? stderr : stdout;
                target.Write(Encoding.UTF8.GetBytes(log.Partial ? log.Text : log.Text + "\n"));
                target.Flush();
            }
            return 0;
        }));
        return command;
    }

    private static Command Wait()
    {
        var name = new Argument<string>("name");
        var json = Json();
        var command = new Command("wait", "Wait until an instance finishes and print its exit code") { name, json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var result = await client.WaitAsync(parse.GetValue(name)!, ct);
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(result, StrataJsonContext.Default.WaitResult);
            }
            else
            {
                Console.WriteLine(result.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? result.State);
            }
            return 0;
        }));
        return command;
    }
}
