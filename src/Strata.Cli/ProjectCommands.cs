using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Strata.Client;
using Strata.Contracts;

namespace Strata.Cli;

/// <summary>
/// <c>strata project create|ls|show|rm|set-quota|set-restrictions</c> and <c>strata project token create|ls|revoke</c>.
/// Projects, quotas and restrictions are for host administrators; a project's admin token manages its tokens.
/// </summary>
internal static class ProjectCommands
{
    public static Command Build()
    {
        var command = new Command("project", "Projects (tenants): their quotas, restrictions and API tokens");
        command.Subcommands.Add(Create());
        command.Subcommands.Add(List());
        command.Subcommands.Add(Show());
        command.Subcommands.Add(Remove());
        command.Subcommands.Add(SetQuota());
        command.Subcommands.Add(SetRestrictions());
        command.Subcommands.Add(SetRightsize());
        var token = new Command("token", "API tokens of a project (the TCP listener accepts only tokens)");
        token.Subcommands.Add(TokenCreate());
        token.Subcommands.Add(TokenList());
        token.Subcommands.Add(TokenRevoke());
        command.Subcommands.Add(token);
        return command;
    }

    private static Option<bool> Json() => new("--json") { Description = "print JSON" };

    private sealed record QuotaOptions(Option<string?> Instances, Option<string?> Cpus, Option<string?> Memory, Option<string?> Pids, Option<string?> Disk)
    {
        public static QuotaOptions Create() => new(
            new("--instances") { Description = "most instances (any state); 'none' for no limit" },
            new("--cpus") { Description = "most cores, summed over resources.cpus; 'none' for no limit" },
            new("--memory") { Description = "most memory, summed over resources.memoryBytes, e.g. 8G; 'none' for no limit" },
            new("--pids") { Description = "most processes, summed over resources.pids; 'none' for no limit" },
            new("--disk") { Description = "most disk, summed over resources.diskBytes, e.g. 100G; 'none' for no limit" });

        public void AddTo(Command c)
        {
            c.Options.Add(Instances);
            c.Options.Add(Cpus);
            c.Options.Add(Memory);
            c.Options.Add(Pids);
            c.Options.Add(Disk);
        }

        public ProjectQuota Apply(ParseResult parse, ProjectQuota q)
        {
            if (parse.GetValue(Instances) is { } i)
            {
                q = q with { Instances = None(i) ? null : (int)Number("--instances", i) };
            }
            if (parse.GetValue(Cpus) is { } c)
            {
                q = q with { Cpus = None(c) ? null : double.TryParse(c, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : throw StrataException.Invalid("--cpus", $"'{c}' is not a number of cores") };
            }
            if (parse.GetValue(Memory) is { } m)
            {
                q = q with { MemoryBytes = None(m) ? null : StrataCli.ParseSize("--memory", m) };
            }
            if (parse.GetValue(Pids) is { } p)
            {
                q = q with { Pids = None(p) ? null : Number("--pids", p) };
            }
            if (parse.GetValue(Disk) is { } d)
            {
                q = q with { DiskBytes = None(d) ? null : StrataCli.ParseSize("--disk", d) };
            }
            return q;
        }

        private static bool None(string text) => text is "none" or "unlimited";

        private static long Number(string option, string text) =>
            long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : throw StrataException.Invalid(option, $"'{text}' is not a whole number (or 'none')");
    }

    private sealed record RestrictionOptions(Option<string?> Tiers, Option<string?> Process, Option<string?> Network, Option<string?> Mounts, Option<string?> Devices, Option<string?> CapAdd, Option<string?> Untrusted)
    {
        public static RestrictionOptions Create() => new(
            new("--allowed-tiers") { Description = "comma-separated tiers the project may use, or 'all'" },
            new("--process-tier") { Description = "allow | deny the process tier (runs on the host itself)" },
            new("--host-network") { Description = "allow | deny --network host" },
            new("--host-mounts") { Description = "allow | deny host-path mounts (--volume)" },
            new("--devices") { Description = "allow | deny host devices (--device)" },
            new("--cap-add") { Description = "allow | deny added Linux capabilities (--cap-add)" },
            new("--untrusted-min") { Description = "weakest tier for requirements.trust untrusted: wasm | sandbox | vm (default sandbox)" });

        public void AddTo(Command c)
        {
            foreach (var o in new[] { Tiers, Process, Network, Mounts, Devices, CapAdd, Untrusted })
            {
                c.Options.Add(o);
            }
        }

        public ProjectRestrictions Apply(ParseResult parse, ProjectRestrictions r)
        {
            if (parse.GetValue(Tiers) is { } t)
            {
                r = r with { AllowedTiers = t == "all" ? null : [.. t.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)] };
            }
            r = parse.GetValue(Process) is { } p ? r with { AllowProcessTier = Switch("--process-tier", p) } : r;
            r = parse.GetValue(Network) is { } n ? r with { AllowHostNetwork = Switch("--host-network", n) } : r;
            r = parse.GetValue(Mounts) is { } m ? r with { AllowHostMounts = Switch("--host-mounts", m) } : r;
            r = parse.GetValue(Devices) is { } d ? r with { AllowDevices = Switch("--devices", d) } : r;
            r = parse.GetValue(CapAdd) is { } c ? r with { AllowCapAdd = Switch("--cap-add", c) } : r;
            if (parse.GetValue(Untrusted) is { } u)
            {
                r = r with { MinimumTierForUntrusted = u == "default" ? null : u };
            }
            return r;
        }

        private static bool Switch(string option, string text) => text switch
        {
            "allow" or "true" or "yes" => true,
            "deny" or "false" or "no" => false,
            _ => throw StrataException.Invalid(option, $"'{text}' is neither allow nor deny"),
        };
    }

    private static Command Create()
    {
        var name = new Argument<string>("name");
        var description = new Option<string?>("--description") { Description = "what the project is for" };
        var json = Json();
        var quota = QuotaOptions.Create();
        var rules = RestrictionOptions.Create();
        var command = new Command("create", "Create a project (host administrators). Without flags: no limits, and the restrictive defaults (no process tier, host network, host mounts, devices or added capabilities)") { name, description, json };
        quota.AddTo(command);
        rules.AddTo(command);
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var info = await client.CreateProjectAsync(new CreateProjectRequest
            {
                Name = parse.GetValue(name)!,
                Description = parse.GetValue(description),
                Quota = quota.Apply(parse, new ProjectQuota()),
                Restrictions = rules.Apply(parse, new ProjectRestrictions()),
            }, ct);
            Print(info, parse.GetValue(json));
            return 0;
        }));
        return command;
    }

    private static Command List()
    {
        var json = Json();
        var command = new Command("ls", "List projects with their usage") { json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var list = await client.ListProjectsAsync(ct);
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(list, StrataJsonContext.Default.ProjectList);
                return 0;
            }
            var table = InstanceCommands.NewTable("NAME", "INSTANCES", "CPUS", "MEMORY", "DESCRIPTION");
            foreach (var p in list.Items)
            {
                var u = p.Usage ?? new ProjectUsage();
                table.AddRow(Cell(p.Name), Cell(Of(u.Instances, p.Quota.Instances)), Cell(Of(u.Cpus, p.Quota.Cpus)),
                    Cell(OfBytes(u.MemoryBytes, p.Quota.MemoryBytes)), Cell(p.Description ?? ""));
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Show()
    {
        var name = new Argument<string?>("name") { Description = "the project (default: --project, or the token's project)", Arity = ArgumentArity.ZeroOrOne };
        var json = Json();
        var command = new Command("show", "A project's usage, limits and restrictions") { name, json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var project = await ResolveAsync(client, parse, parse.GetValue(name), ct);
            Print(await client.GetProjectAsync(project, ct), parse.GetValue(json));
            return 0;
        }));
        return command;
    }

    private static Command Remove()
    {
        var name = new Argument<string>("name");
        var command = new Command("rm", "Remove an empty project and its tokens (host administrators)") { name };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            await client.DeleteProjectAsync(parse.GetValue(name)!, ct);
            Console.WriteLine(parse.GetValue(name));
            return 0;
        }));
        return command;
    }

    private static Command SetQuota()
    {
        var name = new Argument<string>("name");
        var json = Json();
        var quota = QuotaOptions.Create();
        var command = new Command("set-quota", "Change a project's limits (host administrators); flags not given keep their value") { name, json };
        quota.AddTo(command);
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var current = await client.GetProjectAsync(parse.GetValue(name)!, ct);
            Print(await client.SetQuotaAsync(current.Name, quota.Apply(parse, current.Quota), ct), parse.GetValue(json));
            return 0;
        }));
        return command;
    }

    private static Command SetRightsize()
    {
        var name = new Argument<string>("name");
        var mode = new Argument<string>("mode") { Description = "off | recommend | auto, or 'default' (recommend)" };
        var json = Json();
        var command = new Command("set-rightsize", "Set the right-sizing mode the project's instances follow unless they set their own (host administrators and the project's admins)") { name, mode, json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var value = parse.GetValue(mode)!;
            Print(await client.SetProjectRightsizeAsync(parse.GetValue(name)!, value == "default" ? null : value, ct), parse.GetValue(json));
            return 0;
        }));
        return command;
    }

    private static Command SetRestrictions()
    {
        var name = new Argument<string>("name");
        var json = Json();
        var rules = RestrictionOptions.Create();
        var command = new Command("set-restrictions", "Change what a project's workloads may ask for (host administrators); flags not given keep their value") { name, json };
        rules.AddTo(command);
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var current = await client.GetProjectAsync(parse.GetValue(name)!, ct);
            Print(await client.SetRestrictionsAsync(current.Name, rules.Apply(parse, current.Restrictions), ct), parse.GetValue(json));
            return 0;
        }));
        return command;
    }

    private static Command TokenCreate()
    {
        var project = new Argument<string?>("project") { Description = "the project (default: --project, or the token's project)", Arity = ArgumentArity.ZeroOrOne };
        var role = new Option<string>("--role") { Description = "viewer | operator | admin", Required = true };
        var description = new Option<string?>("--description") { Description = "who or what uses it" };
        var json = Json();
        var command = new Command("create", "Create a token; it is printed once and never shown again") { project, role, description, json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var name = await ResolveAsync(client, parse, parse.GetValue(project), ct);
            var token = await client.CreateTokenAsync(name, parse.GetValue(role)!, parse.GetValue(description), ct);
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(token, StrataJsonContext.Default.TokenInfo);
                return 0;
            }
            Console.WriteLine(token.Token);
            Console.Error.WriteLine($"token {token.Id}: {token.Role} of project '{token.Project}'. Store it now: it is not shown again (revoke with 'strata project token revoke {token.Project} {token.Id}').");
            return 0;
        }));
        return command;
    }

    private static Command TokenList()
    {
        var project = new Argument<string?>("project") { Arity = ArgumentArity.ZeroOrOne };
        var json = Json();
        var command = new Command("ls", "List a project's tokens (ids and roles, never the secrets)") { project, json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var list = await client.ListTokensAsync(await ResolveAsync(client, parse, parse.GetValue(project), ct), ct);
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(list, StrataJsonContext.Default.TokenList);
                return 0;
            }
            var table = InstanceCommands.NewTable("ID", "ROLE", "CREATED", "DESCRIPTION");
            foreach (var t in list.Items)
            {
                table.AddRow(Cell(t.Id), Cell(t.Role), Cell(StrataCli.Ago(t.CreatedAt)), Cell(t.Description ?? ""));
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command TokenRevoke()
    {
        var args = new Argument<string[]>("project-and-id") { Description = "[PROJECT] ID", Arity = new ArgumentArity(1, 2) };
        var command = new Command("revoke", "Revoke a token: the next request with it is refused") { args };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var values = parse.GetValue(args)!;
            var project = await ResolveAsync(client, parse, values.Length == 2 ? values[0] : null, ct);
            await client.RevokeTokenAsync(project, values[^1], ct);
            Console.WriteLine(values[^1]);
            return 0;
        }));
        return command;
    }

    /// <summary>The named project, else --project, else the only project the caller sees (a token's), else default.</summary>
    private static async Task<string> ResolveAsync(StrataClient client, ParseResult parse, string? named, CancellationToken ct)
    {
        if ((named ?? StrataCli.ProjectName(parse)) is { } project)
        {
            return project;
        }
        var visible = await client.ListProjectsAsync(ct);
        return visible.Items.Count == 1 ? visible.Items[0].Name : "default";
    }

    private static void Print(ProjectInfo p, bool json)
    {
        if (json)
        {
            StrataCli.WriteJson(p, StrataJsonContext.Default.ProjectInfo);
            return;
        }
        var u = p.Usage ?? new ProjectUsage();
        var r = p.Restrictions;
        Console.WriteLine($"Project      {p.Name}{(p.Description is null ? "" : $"  ({p.Description})")}");
        Console.WriteLine($"Instances    {Of(u.Instances, p.Quota.Instances)}");
        Console.WriteLine($"CPUs         {Of(u.Cpus, p.Quota.Cpus)}");
        Console.WriteLine($"Memory       {OfBytes(u.MemoryBytes, p.Quota.MemoryBytes)}");
        Console.WriteLine($"Pids         {Of(u.Pids, p.Quota.Pids)}");
        Console.WriteLine($"Disk         {OfBytes(u.DiskBytes, p.Quota.DiskBytes)}");
        Console.WriteLine($"Tiers        {(r.AllowedTiers is null ? "all" : string.Join(", ", r.AllowedTiers))}{(r.AllowProcessTier ? "" : " (not process)")}");
        Console.WriteLine($"Untrusted    {r.MinimumTierForUntrusted ?? "sandbox"} or stronger");
        Console.WriteLine($"Rightsize    {p.Rightsize ?? RightsizeModes.Default} (instances without their own --rightsize)");
        Console.WriteLine($"Host access  process tier {A(r.AllowProcessTier)}, host network {A(r.AllowHostNetwork)}, host mounts {A(r.AllowHostMounts)}, devices {A(r.AllowDevices)}, cap-add {A(r.AllowCapAdd)}");
    }

    private static string A(bool allowed) => allowed ? "allowed" : "denied";

    private static string Of(double used, double? limit) =>
        string.Create(CultureInfo.InvariantCulture, $"{used:0.###} of {(limit is { } l ? l.ToString("0.###", CultureInfo.InvariantCulture) : "unlimited")}");

    private static string OfBytes(long used, long? limit) => $"{Size(used)} of {(limit is { } l ? Size(l) : "unlimited")}";

    private static string Size(long bytes) =>
        bytes >= 1L << 30 ? string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):0.#}G")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):0.#}M");

    private static Text Cell(string text) => new(text);
}
