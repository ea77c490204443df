using System.Globalization;
using Strata.Contracts;
using Strata.Policy.Advisor;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Strata.Policy.Workloads;

/// <summary>The checks of one parsed document: each key's type and value, errors collected with their line.</summary>
public static partial class WorkloadFile
{
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
