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
}
