using System.Globalization;
using System.Text.RegularExpressions;
using Strata.Contracts;
using Strata.Policy.Advisor;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Strata.Policy.Workloads;

/// <summary>A problem in a workload file, at the key and line it concerns.</summary>
/// <param name="Path">The key, e.g. <c>workloads[2].requirements.isolation</c>; empty for the file as a whole.</param>
/// <param name="Line">1-based line.</param>
/// <param name="Column">1-based column.</param>
public sealed record WorkloadError(string Path, int Line, int Column, string Message)
{
    /// <summary>e.g. <c>line 7: requirements.isolation: 'stronk' is not one of none, standard, strong</c>.</summary>
    public override string ToString() => Path.Length == 0 ? $"line {Line}: {Message}" : $"line {Line}: {Path}: {Message}";
}

/// <summary>The workloads of a file, or every error found in it (never both).</summary>
public sealed record WorkloadParseResult(string FileName, IReadOnlyList<WorkloadDefinition> Workloads, IReadOnlyList<WorkloadError> Errors)
{
    public bool Succeeded => Errors.Count == 0;

    /// <summary>The workloads, or a <see cref="StrataException"/> (invalid argument) listing every error with its line.</summary>
    public IReadOnlyList<WorkloadDefinition> GetOrThrow()
    {
        if (Succeeded)
        {
            return Workloads;
        }
        var message = Errors.Count == 1
            ? $"{FileName}: {Errors[0]}"
            : $"{FileName}: {Errors.Count} errors:\n" + string.Join('\n', Errors.Select(e => $"  {e}"));
        throw new StrataException(ErrorKind.InvalidArgument, message, Errors[0].Path.Length == 0 ? null : Errors[0].Path);
    }
}

/// <summary>
/// Reads workload files, YAML or JSON (JSON is read as YAML, its superset, so both give line numbers).
/// A file holds one workload (a mapping with <c>name</c>, ...), a list of workloads (a top-level
/// sequence), or a mapping with a <c>workloads</c> list; several YAML documents (<c>---</c>) add up.
/// Unknown keys and bad values are errors naming the key and the line; all of them are reported at once.
/// The accepted keys are listed below and must match schema/workload.schema.json (a test checks).
/// </summary>
public static partial class WorkloadFile
{
    /// <summary>Keys of the file-level mapping (besides a single workload's keys).</summary>
    public static readonly IReadOnlyList<string> DocumentKeys = ["$schema", "workloads"];

    public static readonly IReadOnlyList<string> WorkloadKeys = ["name", "image", "command", "args", "env", "resources", "tier", "project", "requirements"];

    public static readonly IReadOnlyList<string> ResourceKeys = ["cpus", "memory", "pids"];

    public static readonly IReadOnlyList<string> RequirementKeys =
        ["os", "arch", "fullOs", "ownKernel", "kernelModules", "specialDrivers", "isolation", "trust", "hardware", "gpus", "statefulSnapshots", "startupBudget"];

    public static readonly IReadOnlyList<string> TierValues = ["auto", "process", "container", "sandbox", "vm", "wasm"];
    public static readonly IReadOnlyList<string> IsolationValues = ["none", "standard", "strong"];
    public static readonly IReadOnlyList<string> TrustValues = ["trusted", "untrusted"];
    public static readonly IReadOnlyList<string> HardwareValues = ["none", "shared", "dedicated"];

    /// <summary>Parses <paramref name="text"/>; <paramref name="fileName"/> is only used in messages.</summary>
    public static WorkloadParseResult Parse(string text, string fileName)
    {
        ArgumentNullException.ThrowIfNull(text);
        var errors = new List<WorkloadError>();
        var workloads = new List<WorkloadDefinition>();
        var stream = new YamlStream();
        var parser = new TrackingParser(new Parser(new StringReader(text)));
        try
        {
            stream.Load(parser);
        }
        catch (YamlException e)
        {
            errors.Add(new("", (int)e.Start.Line, (int)e.Start.Column, SyntaxMessage(e)));
            return new(fileName, [], errors);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet fails this way, without a position, on some malformed input (an unclosed
            // flow list, an alias where a node must start); the last event read is the best position we have.
            var at = parser.LastEnd;
            errors.Add(new("", (int)at.Line, (int)at.Column, "not valid YAML or JSON after this point (an unclosed list or mapping, or a stray '*', '&' or '!')"));
            return new(fileName, [], errors);
        }

        var reader = new Reader(errors);
        foreach (var document in stream.Documents)
        {
            switch (document.RootNode)
            {
                case YamlSequenceNode list:
                    reader.ReadList(list, "", workloads);
                    break;
                case YamlMappingNode map when map.Children.Keys.Any(k => k is YamlScalarNode { Value: "workloads" }):
                    reader.ReadDocument(map, workloads);
                    break;
                case YamlMappingNode map:
                    if (reader.ReadWorkload(map, "", allowSchemaKey: true) is { } single)
                    {
                        workloads.Add(single);
                    }
                    break;
                case var node when Reader.IsNull(node):
                    break;
                case var node:
                    reader.Error(node, "", "expected a workload (a mapping with name, image, ...) or a list of workloads");
                    break;
            }
        }

        if (errors.Count == 0 && workloads.Count == 0)
        {
            errors.Add(new("", 1, 1, "the file holds no workloads: write one workload (name, image, ...) or a list under 'workloads'"));
        }
        var seen = new Dictionary<string, WorkloadDefinition>(StringComparer.Ordinal);
        foreach (var workload in workloads)
        {
            if (!seen.TryAdd(workload.Name, workload))
            {
                errors.Add(new("name", workload.Line, 1, $"'{workload.Name}' is used twice (also on line {seen[workload.Name].Line}): names must be unique"));
            }
        }
        return errors.Count > 0 ? new(fileName, [], errors) : new(fileName, workloads, []);
    }

    private static string SyntaxMessage(YamlException e)
    {
        var message = e.Message;
        // YamlDotNet appends the position, which WorkloadError already carries.
        var at = message.IndexOf(" Line: ", StringComparison.Ordinal);
        if (at > 0)
        {
            message = message[..at];
        }
        if (message.StartsWith("Duplicate key ", StringComparison.Ordinal))
        {
            return $"duplicate key '{message["Duplicate key ".Length..]}'";
        }
        return $"not valid YAML or JSON: {message.TrimEnd('.')}";
    }

    /// <summary>Remembers where the last parsed event ended, for errors the parser reports without a position.</summary>
    private sealed class TrackingParser(IParser inner) : IParser
    {
        public Mark LastEnd { get; private set; } = new(0, 1, 1);

        public ParsingEvent? Current => inner.Current;

        public bool MoveNext()
        {
            var moved = inner.MoveNext();
            if (inner.Current is { } current)
            {
                LastEnd = current.End;
            }
            return moved;
        }
    }

    [GeneratedRegex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    private static partial Regex DnsLabel();

    [GeneratedRegex("^[A-Za-z0-9_-]+$")]
    private static partial Regex ModuleName();

    private sealed class Reader(List<WorkloadError> errors)
    {
        public void Error(YamlNode node, string path, string message) =>
            errors.Add(new(path, (int)node.Start.Line, (int)node.Start.Column, message));

        public static bool IsNull(YamlNode node) =>
            node is YamlScalarNode { Style: ScalarStyle.Plain, Value: null or "" or "~" or "null" or "Null" or "NULL" };

        public void ReadDocument(YamlMappingNode map, List<WorkloadDefinition> workloads)
        {
            foreach (var (keyNode, value) in map.Children)
            {
                var key = Key(keyNode, "");
                switch (key)
                {
                    case null:
                        break;
                    case "workloads" when value is YamlSequenceNode list:
                        ReadList(list, "workloads", workloads);
                        break;
                    case "workloads":
                        Error(value, "workloads", "must be a list of workloads");
                        break;
                    case "$schema":
                        String(value, "$schema");
                        break;
                    default:
                        Unknown(keyNode, key, key, DocumentKeys, "beside 'workloads' only '$schema' may appear; a workload's keys go inside the list");
                        break;
                }
            }
        }

        public void ReadList(YamlSequenceNode list, string prefix, List<WorkloadDefinition> workloads)
        {
            var index = 0;
            foreach (var item in list)
            {
                if (ReadWorkload(item, $"{prefix}[{index}]", allowSchemaKey: false) is { } workload)
                {
                    workloads.Add(workload);
                }
                index++;
            }
        }

        public WorkloadDefinition? ReadWorkload(YamlNode node, string prefix, bool allowSchemaKey)
        {
            if (node is not YamlMappingNode map)
            {
                Error(node, prefix, "expected a workload: a mapping with name, image, command, ...");
                return null;
            }
            var before = errors.Count;
            string? name = null, image = null, project = null;
            IReadOnlyList<string>? command = null, args = null;
            IReadOnlyDictionary<string, string>? env = null;
            WorkloadResources? resources = null;
            Tier? tier = null;
            var requirements = new Requirements();
            foreach (var (keyNode, value) in map.Children)
            {
                var key = Key(keyNode, prefix);
                if (key is null)
                {
                    continue;
                }
                var path = Join(prefix, key);
                switch (key)
                {
                    case "name":
                        name = String(value, path);
                        if (name is not null && !DnsLabel().IsMatch(name))
                        {
                            Error(value, path, $"'{name}' is not a valid name: 1-63 lower-case letters, digits or '-', starting and ending with a letter or digit");
                        }
                        break;
                    case "image":
                        image = String(value, path);
                        break;
                    case "command":
                        command = StringList(value, path);
                        break;
                    case "args":
                        args = StringList(value, path);
                        break;
                    case "env":
                        env = StringMap(value, path);
                        break;
                    case "resources":
                        resources = ReadResources(value, path);
                        break;
                    case "tier":
                        var tierName = Choice(value, path, TierValues);
                        tier = tierName is null or "auto" ? null : TierNames.TryParse(tierName, out var t) ? t : null;
                        break;
                    case "project":
                        project = String(value, path);
                        if (project is not null && !DnsLabel().IsMatch(project))
                        {
                            Error(value, path, $"'{project}' is not a valid project name: 1-63 lower-case letters, digits or '-'");
                        }
                        break;
                    case "requirements":
                        requirements = ReadRequirements(value, path) ?? requirements;
                        break;
                    case "$schema" when allowSchemaKey:
                        String(value, path);
                        break;
                    default:
                        Unknown(keyNode, path, key, WorkloadKeys);
                        break;
                }
            }
            if (name is null && !errors.Skip(before).Any(e => e.Path == Join(prefix, "name")))
            {
                Error(map, Join(prefix, "name"), "is required: every workload needs a name (lower-case letters, digits, '-')");
            }
            if (errors.Count > before || name is null)
            {
                return null;
            }
            return new WorkloadDefinition
            {
                Name = name,
                Image = image,
                Command = command,
                Args = args,
                Env = env,
                Resources = resources,
                Tier = tier,
                Project = project,
                Requirements = requirements,
                Line = (int)map.Start.Line,
            };
        }

        private WorkloadResources? ReadResources(YamlNode node, string prefix)
        {
            if (IsNull(node))
            {
                return null;
            }
            if (node is not YamlMappingNode map)
            {
                Error(node, prefix, "must be a mapping with cpus, memory and/or pids");
                return null;
            }
            double? cpus = null;
            long? memory = null, pids = null;
            foreach (var (keyNode, value) in map.Children)
            {
                var key = Key(keyNode, prefix);
                var path = Join(prefix, key ?? "");
                switch (key)
                {
                    case null:
                        break;
                    case "cpus":
                        cpus = Number(value, path);
                        if (cpus is <= 0)
                        {
                            Error(value, path, "must be more than 0 (cores, e.g. 0.5 or 2)");
                            cpus = null;
                        }
                        break;
                    case "memory":
                        memory = Memory(value, path);
                        break;
                    case "pids":
                        pids = Integer(value, path, minimum: 1);
                        break;
                    default:
                        Unknown(keyNode, path, key, ResourceKeys);
                        break;
                }
            }
            return new WorkloadResources { Cpus = cpus, MemoryBytes = memory, Pids = pids };
        }

        private Requirements? ReadRequirements(YamlNode node, string prefix)
        {
            if (IsNull(node))
            {
                return null;
            }
            if (node is not YamlMappingNode map)
            {
                Error(node, prefix, "must be a mapping of requirements (os, isolation, trust, ...)");
                return null;
            }
            var req = new Requirements();
            foreach (var (keyNode, value) in map.Children)
            {
                var key = Key(keyNode, prefix);
                var path = Join(prefix, key ?? "");
                switch (key)
                {
                    case null:
                        break;
                    case "os":
                        if (String(value, path) is { } os)
                        {
                            if (Platform.KnownOs.Contains(os.ToLowerInvariant()))
                            {
                                req = req with { Os = os.ToLowerInvariant() };
                            }
                            else
                            {
                                Error(value, path, $"'{os}' is not one of {string.Join(", ", Platform.KnownOs)}");
                            }
                        }
                        break;
                    case "arch":
                        if (String(value, path) is { } arch)
                        {
                            if (arch.Equals("host", StringComparison.OrdinalIgnoreCase))
                            {
                                req = req with { Arch = null };
                            }
                            else if (Platform.NormalizeArch(arch) is { } canonical)
                            {
                                req = req with { Arch = canonical };
                            }
                            else
                            {
                                Error(value, path, $"'{arch}' is not one of host, {string.Join(", ", Platform.KnownArch)} (or x86_64, aarch64, ...)");
                            }
                        }
                        break;
                    case "fullOs":
                        req = req with { FullOs = Bool(value, path) ?? false };
                        break;
                    case "ownKernel":
                        req = req with { OwnKernel = Bool(value, path) ?? false };
                        break;
                    case "specialDrivers":
                        req = req with { SpecialDrivers = Bool(value, path) ?? false };
                        break;
                    case "statefulSnapshots":
                        req = req with { StatefulSnapshots = Bool(value, path) ?? false };
                        break;
                    case "kernelModules":
                        var modules = StringList(value, path) ?? [];
                        foreach (var module in modules.Where(m => !ModuleName().IsMatch(m)))
                        {
                            Error(value, path, $"'{module}' is not a kernel module name (letters, digits, '_' or '-')");
                        }
                        req = req with { KernelModules = modules };
                        break;
                    case "isolation":
                        req = Choice(value, path, IsolationValues) switch
                        {
                            "none" => req with { Isolation = IsolationNeed.None },
                            "strong" => req with { Isolation = IsolationNeed.Strong },
                            _ => req with { Isolation = IsolationNeed.Standard },
                        };
                        break;
                    case "trust":
                        req = req with { Trust = Choice(value, path, TrustValues) == "untrusted" ? TrustLevel.Untrusted : TrustLevel.Trusted };
                        break;
                    case "hardware":
                        req = Choice(value, path, HardwareValues) switch
                        {
                            "shared" => req with { Hardware = HardwareNeed.Shared },
                            "dedicated" => req with { Hardware = HardwareNeed.Dedicated },
                            _ => req with { Hardware = HardwareNeed.None },
                        };
                        break;
                    case "gpus":
                        req = req with { Gpus = (int)(Integer(value, path, minimum: 0, maximum: 64) ?? 0) };
                        break;
                    case "startupBudget":
                        req = req with { StartupBudget = Duration(value, path) };
                        break;
                    default:
                        Unknown(keyNode, path, key, RequirementKeys);
                        break;
                }
            }
            return req;
        }

        private string? Key(YamlNode keyNode, string prefix)
        {
            if (keyNode is YamlScalarNode { Value: { Length: > 0 } key })
            {
                return key;
            }
            Error(keyNode, prefix, "keys must be plain names");
            return null;
        }

        private void Unknown(YamlNode keyNode, string path, string key, IReadOnlyList<string> known, string? note = null)
        {
            var suggestion = known
                .Select(k => (Key: k, Distance: Distance(k.ToLowerInvariant(), key.ToLowerInvariant())))
                .Where(s => s.Distance <= Math.Max(1, key.Length / 3))
                .OrderBy(s => s.Distance)
                .Select(s => s.Key)
                .FirstOrDefault();
            var help = suggestion is not null ? $"did you mean '{suggestion}'?" : note ?? $"known keys here: {string.Join(", ", known)}";
            Error(keyNode, path, $"unknown key; {help}");
        }

        private string? String(YamlNode node, string path)
        {
            if (IsNull(node))
            {
                return null;
            }
            if (node is YamlScalarNode scalar)
            {
                return scalar.Value;
            }
            Error(node, path, "must be a single value (a string)");
            return null;
        }

        private string? Choice(YamlNode node, string path, IReadOnlyList<string> values)
        {
            var text = String(node, path);
            if (text is null)
            {
                return null;
            }
            if (values.Contains(text))
            {
                return text;
            }
            Error(node, path, $"'{text}' is not one of {string.Join(", ", values)}");
            return null;
        }

        private bool? Bool(YamlNode node, string path)
        {
            if (IsNull(node))
            {
                return null;
            }
            if (node is YamlScalarNode { Style: ScalarStyle.Plain, Value: { } value })
            {
                switch (value)
                {
                    case "true" or "True" or "TRUE": return true;
                    case "false" or "False" or "FALSE": return false;
                }
            }
            Error(node, path, $"{Shown(node)} is not a boolean: write true or false (unquoted)");
            return null;
        }

        private long? Integer(YamlNode node, string path, long minimum, long maximum = long.MaxValue)
        {
            if (IsNull(node))
            {
                return null;
            }
            if (node is YamlScalarNode { Style: ScalarStyle.Plain, Value: { } value }
                && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            {
                if (number >= minimum && number <= maximum)
                {
                    return number;
                }
                Error(node, path, maximum == long.MaxValue ? $"must be at least {minimum}" : $"must be between {minimum} and {maximum}");
                return null;
            }
            Error(node, path, $"{Shown(node)} is not a whole number");
            return null;
        }

        private double? Number(YamlNode node, string path)
        {
            if (IsNull(node))
            {
                return null;
            }
            if (node is YamlScalarNode { Style: ScalarStyle.Plain, Value: { } value }
                && double.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                return number;
            }
            Error(node, path, $"{Shown(node)} is not a number");
            return null;
        }

        private long? Memory(YamlNode node, string path) => Quantity<long>(node, path, Quantities.TryParseMemoryBytes);

        private TimeSpan? Duration(YamlNode node, string path) => Quantity<TimeSpan>(node, path, Quantities.TryParseDuration);

        private delegate bool QuantityParser<T>(string? text, out T value, out string error);

        // A quantity is written as a string ("512Mi", "30s"); its parser names what was wrong.
        private T? Quantity<T>(YamlNode node, string path, QuantityParser<T> parse) where T : struct
        {
            var text = String(node, path);
            if (text is null)
            {
                return null;
            }
            if (parse(text, out var value, out var error))
            {
                return value;
            }
            Error(node, path, error);
            return null;
        }

        private List<string>? StringList(YamlNode node, string path)
        {
            if (IsNull(node))
            {
                return null;
            }
            if (node is not YamlSequenceNode list)
            {
                Error(node, path, "must be a list of strings, e.g. [sh, -c, 'echo hi']");
                return null;
            }
            var items = new List<string>();
            var index = 0;
            foreach (var item in list)
            {
                if (item is YamlScalarNode { Value: { } value } && !IsNull(item))
                {
                    items.Add(value);
                }
                else
                {
                    Error(item, $"{path}[{index}]", "must be a string");
                }
                index++;
            }
            return items;
        }

        private Dictionary<string, string>? StringMap(YamlNode node, string path)
        {
            if (IsNull(node))
            {
                return null;
            }
            if (node is not YamlMappingNode map)
            {
                Error(node, path, "must be a mapping of NAME: value");
                return null;
            }
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (keyNode, value) in map.Children)
            {
                var key = Key(keyNode, path);
                if (key is null)
                {
                    continue;
                }
                if (key.Contains('=') || key.Contains('\0'))
                {
                    Error(keyNode, Join(path, key), "a variable name may not contain '=' or NUL");
                    continue;
                }
                if (value is YamlScalarNode { Value: { } text } && !IsNull(value))
                {
                    result[key] = text;
                }
                else
                {
                    Error(value, Join(path, key), "must be a single value (write '' for an empty one)");
                }
            }
            return result;
        }

        private static string Shown(YamlNode node) => node switch
        {
            YamlScalarNode { Style: ScalarStyle.Plain } s => $"'{s.Value}'",
            YamlScalarNode s => $"the string \"{s.Value}\"",
            YamlSequenceNode => "a list",
            _ => "a mapping",
        };

        private static string Join(string prefix, string key) => prefix.Length == 0 ? key : $"{prefix}.{key}";

        private static int Distance(string a, string b)
        {
            var previous = Enumerable.Range(0, b.Length + 1).ToArray();
            for (var i = 1; i <= a.Length; i++)
            {
                var current = new int[b.Length + 1];
                current[0] = i;
                for (var j = 1; j <= b.Length; j++)
                {
                    var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                    current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
                }
                previous = current;
            }
            return previous[b.Length];
        }
    }
}
