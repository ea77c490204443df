using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Strata.Client;
using Strata.Contracts;

namespace Strata.Cli;

/// <summary><c>strata image pull|import|build-base|ls|inspect|rm|tag|prune</c>.</summary>
internal static class ImageCommands
{
    private static Option<bool> Json() => new("--json") { Description = "print JSON instead of a table" };

    public static Command Build()
    {
        var image = new Command("image", "Manage images: pull from registries, import archives and root filesystems, list, tag, remove");
        image.Subcommands.Add(Pull());
        image.Subcommands.Add(Import());
        image.Subcommands.Add(BuildBase());
        image.Subcommands.Add(List());
        image.Subcommands.Add(Inspect());
        image.Subcommands.Add(Remove());
        image.Subcommands.Add(Tag());
        image.Subcommands.Add(Prune());
        return image;
    }

    private static Command Pull()
    {
        var reference = new Argument<string>("reference") { Description = "image to pull, e.g. 127.0.0.1:5000/team/app:1.0 or busybox@sha256:…" };
        var insecure = new Option<bool>("--insecure") { Description = "allow plain HTTP to this image's registry (like the daemon's --insecure-registry)" };
        var username = new Option<string?>("--username", "-u") { Description = "registry user name" };
        var passwordStdin = new Option<bool>("--password-stdin") { Description = "read the registry password from standard input" };
        var json = new Option<bool>("--json") { Description = "print the finished operation as JSON (no progress display)" };
        var command = new Command("pull", "Pull an image from a registry, showing progress per layer; Ctrl-C cancels the pull")
        {
            reference, insecure, username, passwordStdin, json,
        };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            string? password = null;
            if (parse.GetValue(passwordStdin))
            {
                if (parse.GetValue(username) is null)
                {
                    throw StrataException.Invalid("--password-stdin", "needs --username");
                }
                password = (await Console.In.ReadToEndAsync(ct)).TrimEnd('\r', '\n');
            }
            using var client = StrataCli.Client(parse);
            var operation = await client.PullImageAsync(new PullImageRequest
            {
                Reference = parse.GetValue(reference)!,
                Insecure = parse.GetValue(insecure),
                Username = parse.GetValue(username),
                Password = password,
            }, ct);
            return await FollowAsync(client, operation, parse.GetValue(json) ? OutputMode.Json
                : Console.IsOutputRedirected ? OutputMode.Lines : OutputMode.Bars);
        }));
        return command;
    }

    internal enum OutputMode { Bars, Lines, Json }

    /// <summary>
    /// Shows an operation's progress until it ends. Ctrl-C cancels the operation on the daemon (which cleans up) and
    /// keeps following until it reports "cancelled"; a second Ctrl-C leaves at once.
    /// </summary>
    internal static async Task<int> FollowAsync(StrataClient client, OperationInfo operation, OutputMode mode)
    {
        using var sigint = OperationCommands.CancelOnInterrupt(client, operation, $"cancelling {operation.Kind} of {operation.Target}");

        OperationInfo final = operation;
        switch (mode)
        {
            case OutputMode.Bars:
                await AnsiConsole.Progress()
                    .AutoClear(false)
                    .HideCompleted(false)
                    .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn())
                    .StartAsync(async ctx =>
                    {
                        var tasks = new Dictionary<string, ProgressTask>(StringComparer.Ordinal);
                        void Show(ProgressItem item)
                        {
                            if (!tasks.TryGetValue(item.Id, out var task))
                            {
                                task = tasks[item.Id] = ctx.AddTask(Label(item), maxValue: Math.Max(1, item.Total));
                            }
                            task.Description = Label(item);
                            task.MaxValue = Math.Max(1, item.Total);
                            task.Value = item.Phase is "already-present" or "done" or "unpacking" or "unpacked" ? task.MaxValue : Math.Max(0, item.Current);
                        }
                        await foreach (var e in client.WatchOperationAsync(operation.Id, CancellationToken.None))
                        {
                            if (e.Item is { } item)
                            {
                                Show(item);
                            }
                            if (e.Operation is { } op)
                            {
                                final = op;
                                foreach (var i in op.Progress.Items)
                                {
                                    Show(i);
                                }
                            }
                        }
                    });
                break;
            case OutputMode.Lines:
                var phases = new Dictionary<string, string>(StringComparer.Ordinal);
                await foreach (var e in client.WatchOperationAsync(operation.Id, CancellationToken.None))
                {
                    // One line per phase change: logs and pipes get a readable record, not a flood of byte counts.
                    foreach (var item in e.Item is { } one ? [one] : e.Operation?.Progress.Items ?? [])
                    {
                        if (!phases.TryGetValue(item.Id, out var seen) || seen != item.Phase)
                        {
                            phases[item.Id] = item.Phase;
                            Console.WriteLine($"{Short(item.Id)} {item.Kind} {item.Phase} {(item.Total > 0 ? Human(item.Total) : "")}".TrimEnd());
                        }
                    }
                    final = e.Operation ?? final;
                }
                break;
            case OutputMode.Json:
                final = await client.WaitOperationAsync(operation.Id, ct: CancellationToken.None);
                break;
        }

        if (!OperationStatusNames.IsFinished(final.Status))
        {
            // The stream ended early (daemon restarted?): ask once more.
            final = await client.GetOperationAsync(operation.Id, CancellationToken.None);
        }
        if (mode == OutputMode.Json)
        {
            StrataCli.WriteJson(final, StrataJsonContext.Default.OperationInfo);
        }
        switch (final.Status)
        {
            case OperationStatusNames.Succeeded:
                if (mode != OutputMode.Json && final.Result is { } result && result.ValueKind == JsonValueKind.Object)
                {
                    var image = result.Deserialize(StrataJsonContext.Default.ImageSummary)!;
                    Console.WriteLine($"{image.Name} {ShortId(image.Id)}");
                }
                return 0;
            case OperationStatusNames.Cancelled:
                Console.Error.WriteLine($"strata: {operation.Kind} of {operation.Target} cancelled; nothing was kept");
                return 130;
            default:
                Console.Error.WriteLine($"strata: {final.Error?.Detail ?? $"{operation.Kind} of {operation.Target} {final.Status}"}");
                return StrataCli.ExitError;
        }
    }

    private static string Label(ProgressItem item) => $"{Short(item.Id)} {item.Kind,-6} {item.Phase,-15}";

    private static string Short(string digest) => digest.StartsWith("sha256:", StringComparison.Ordinal) && digest.Length > 19 ? digest[7..19] : digest;

    internal static string ShortId(string id) => Short(id);

    internal static string Human(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return unit == 0 ? $"{bytes} B" : value.ToString(value < 10 ? "0.0" : "0", CultureInfo.InvariantCulture) + " " + units[unit];
    }

    private static Command Import()
    {
        var source = new Argument<string>("source") { Description = "docker-save or OCI-layout tarball (plain or gzipped; '-' for stdin); with --rootfs a directory or a tar of a root filesystem" };
        var name = new Argument<string?>("name") { Description = "image name (overrides the archive's; required with --rootfs)", Arity = ArgumentArity.ZeroOrOne };
        var rootfs = new Option<bool>("--rootfs") { Description = "SOURCE is a root filesystem (directory or tar), not an image archive" };
        var kindOption = new Option<string?>("--kind") { Description = "archive (default), rootfs (same as --rootfs) or disk (a bootable raw/qcow2 disk for the vm tier; NAME required)" };
        var json = Json();
        var command = new Command("import", "Import an image archive (docker save, OCI layout) or a root filesystem; the file is streamed to the daemon")
        {
            source, name, rootfs, kindOption, json,
        };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            var path = parse.GetValue(source)!;
            var imageName = parse.GetValue(name);
            using var client = StrataCli.Client(parse);
            ImageList imported;
            var kind = parse.GetValue(kindOption) ?? (parse.GetValue(rootfs) ? "rootfs" : "archive");
            if (kind is not ("archive" or "rootfs" or "disk"))
            {
                throw StrataException.Invalid("--kind", $"'{kind}' is not an import kind; use archive, rootfs or disk");
            }
            if (kind == "disk")
            {
                if (imageName is null)
                {
                    throw StrataException.Invalid("name", "a disk import needs a name: strata image import disk.qcow2 --kind disk NAME");
                }
                await using var disk = OpenSource(path);
                imported = await client.ImportDiskImageAsync(disk, imageName, ct);
            }
            else if (kind == "rootfs")
            {
                if (imageName is null)
                {
                    throw StrataException.Invalid("name", "a root filesystem import needs a name: strata image import --rootfs DIR NAME");
                }
                if (Directory.Exists(path))
                {
                    imported = await client.ImportRootfsDirectoryAsync(path, imageName, ct);
                }
                else
                {
                    await using var tar = OpenSource(path);
                    imported = await client.ImportRootfsAsync(tar, imageName, ct);
                }
            }
            else
            {
                await using var archive = OpenSource(path);
                imported = await client.ImportImageAsync(archive, imageName, ct);
            }
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(imported, StrataJsonContext.Default.ImageList);
                return 0;
            }
            foreach (var i in imported.Items)
            {
                Console.WriteLine($"{i.Name} {ShortId(i.Id)}");
            }
            return 0;
        }));
        return command;
    }

    private static Stream OpenSource(string path)
    {
        if (path == "-")
        {
            return Console.OpenStandardInput();
        }
        if (!File.Exists(path))
        {
            throw StrataException.Invalid("source", $"{path} does not exist (or is a directory; a directory is only taken with --rootfs)");
        }
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
    }

    private static Command BuildBase()
    {
        var kind = new Argument<string>("kind") { Description = "what to build from: busybox (the host's busybox-static)" };
        var name = new Option<string?>("--name") { Description = "image name (default busybox:latest; busybox:arm64 with --arch arm64)" };
        var arch = new Option<string?>("--arch") { Description = "amd64 (default: the host's busybox) or arm64 (the arm64 busybox from scripts/fetch-arm64-guest.sh, for --tier vm --arch arm64)" };
        var json = Json();
        var command = new Command("build-base", "Build a minimal base image without any network: strata image build-base busybox") { kind, name, arch, json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            if (parse.GetValue(kind) != "busybox")
            {
                throw StrataException.Invalid("kind", $"'{parse.GetValue(kind)}' is not a base Strata can build; the one base is busybox");
            }
            using var client = StrataCli.Client(parse);
            var image = await client.BuildBaseImageAsync(parse.GetValue(name), parse.GetValue(arch), ct);
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(image, StrataJsonContext.Default.ImageSummary);
            }
            else
            {
                Console.WriteLine($"{image.Name} {ShortId(image.Id)}");
            }
            return 0;
        }));
        return command;
    }

    private static Command List()
    {
        var quiet = new Option<bool>("--quiet", "-q") { Description = "print names only" };
        var json = Json();
        var command = new Command("ls", "List images") { quiet, json };
        command.Aliases.Add("list");
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var list = await client.ListImagesAsync(ct);
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(list, StrataJsonContext.Default.ImageList);
                return 0;
            }
            if (parse.GetValue(quiet))
            {
                foreach (var i in list.Items)
                {
                    Console.WriteLine(i.Name);
                }
                return 0;
            }
            var table = InstanceCommands.NewTable("NAME", "ID", "KIND", "OS/ARCH", "SIZE", "ADDED", "TEMPLATES");
            foreach (var i in list.Items)
            {
                // e.g. "sandbox 256M: 97.0 MiB" per template (docs/sandbox.md#templates)
                var templates = string.Join('\n', (i.Templates ?? []).Select(t => $"{t.Tier} {t.MemoryMiB}M{(t.Cpus > 1 ? $" {t.Cpus}cpu" : "")}{(t.Network ? " net" : "")}: {Human(t.SizeBytes)}"));
                table.AddRow(InstanceCommands.Cell(i.Name), InstanceCommands.Cell(ShortId(i.Id)), InstanceCommands.Cell(i.Kind),
                    InstanceCommands.Cell($"{i.Os}/{i.Architecture}"), InstanceCommands.Cell(Human(i.Size)), InstanceCommands.Cell(StrataCli.Ago(i.Added)),
                    InstanceCommands.Cell(templates.Length > 0 ? templates : "-"));
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Inspect()
    {
        var reference = new Argument<string>("reference") { Description = "image name, ID or digest (a unique prefix of 4+ hex digits works)" };
        var json = Json();
        var command = new Command("inspect", "Show an image's names, config and layers") { reference, json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var d = await client.InspectImageAsync(parse.GetValue(reference)!, ct);
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(d, StrataJsonContext.Default.ImageDetail);
                return 0;
            }
            var grid = new Grid().AddColumn(new GridColumn().PadRight(2)).AddColumn();
            void Row(string k, string? v) => grid.AddRow(new Text(k, new Style(decoration: Decoration.Bold)), new Text(string.IsNullOrEmpty(v) ? "-" : v));
            Row("Name", d.Image.Name);
            Row("Names", string.Join(", ", d.Names));
            Row("Id", d.Image.Id);
            Row("Manifest", $"{d.Image.ManifestDigest} ({d.ManifestMediaType})");
            Row("Index", d.Image.IndexDigest);
            Row("Kind", d.Image.Kind);
            Row("OS/Arch", $"{d.Image.Os}/{d.Image.Architecture}");
            Row("Size", $"{Human(d.Image.Size)} ({d.Image.Size.ToString(CultureInfo.InvariantCulture)} bytes)");
            Row("Created", d.Created);
            Row("Added", d.Image.Added.ToString("u", CultureInfo.InvariantCulture));
            if (d.Config is { } c)
            {
                Row("Entrypoint", string.Join(' ', c.Entrypoint));
                Row("Cmd", string.Join(' ', c.Cmd));
                Row("Env", string.Join('\n', c.Env));
                Row("WorkingDir", c.WorkingDir);
                Row("User", c.User);
                Row("Ports", string.Join(", ", c.ExposedPorts));
                Row("Labels", string.Join('\n', c.Labels.Select(kv => $"{kv.Key}={kv.Value}")));
                Row("StopSignal", c.StopSignal);
            }
            Row("Layers", string.Join('\n', d.Layers.Select(l => $"{l.Digest} {Human(l.Size)}")));
            AnsiConsole.Write(grid);
            return 0;
        }));
        return command;
    }

    private static Command Remove()
    {
        var references = new Argument<string[]>("reference") { Description = "image names or IDs", Arity = ArgumentArity.OneOrMore };
        var force = new Option<bool>("--force", "-f") { Description = "remove even while instances use the image, and every name of an ID" };
        var command = new Command("rm", "Remove image names (blobs are freed by 'strata image prune')") { references, force };
        command.Aliases.Add("remove");
        command.SetAction(async (parse, ct) =>
        {
            using var client = StrataCli.Client(parse);
            var failures = 0;
            foreach (var r in parse.GetValue(references)!)
            {
                var code = await StrataCli.Guard(async () =>
                {
                    var result = await client.RemoveImageAsync(r, parse.GetValue(force), ct);
                    foreach (var name in result.Removed)
                    {
                        Console.WriteLine($"untagged {name}");
                    }
                    if (result.Message is { } message)
                    {
                        Console.WriteLine(message);
                    }
                    return 0;
                });
                failures += code == 0 ? 0 : 1;
            }
            return failures == 0 ? 0 : StrataCli.ExitError;
        });
        return command;
    }

    private static Command Tag()
    {
        var source = new Argument<string>("source") { Description = "existing image name or ID" };
        var target = new Argument<string>("target") { Description = "new name, NAME[:TAG]" };
        var command = new Command("tag", "Give an image another name") { source, target };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var image = await client.TagImageAsync(parse.GetValue(source)!, parse.GetValue(target)!, ct);
            Console.WriteLine($"{image.Name} {ShortId(image.Id)}");
            return 0;
        }));
        return command;
    }

    private static Command Prune()
    {
        var json = Json();
        var command = new Command("prune", "Delete blobs and unpacked layers no image name refers to") { json };
        command.SetAction(async (parse, ct) => await StrataCli.Guard(async () =>
        {
            using var client = StrataCli.Client(parse);
            var r = await client.PruneImagesAsync(ct);
            if (parse.GetValue(json))
            {
                StrataCli.WriteJson(r, StrataJsonContext.Default.PruneImagesResult);
            }
            else
            {
                Console.WriteLine($"removed {r.BlobsRemoved} blobs, {r.LayersRemoved} layers and {r.TemplatesRemoved} templates, freed {Human(r.BytesFreed)}"
                    + (r.LayersInUse > 0 ? $"; kept {r.LayersInUse} layer{(r.LayersInUse == 1 ? "" : "s")} of removed images that instances still use" : ""));
            }
            return 0;
        }));
        return command;
    }
}
