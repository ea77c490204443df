using System.Text.RegularExpressions;
using Strata.Contracts;

namespace Strata.Control;

/// <summary>
/// Validates and normalises an <see cref="InstanceSpec"/> before anything is created. Every error names the
/// field (JSON path) and says what would be valid. Tier-specific checks happen in the drivers' CreateAsync.
/// </summary>
public static partial class SpecValidator
{
    public const long MinimumMemoryBytes = 4 * 1024 * 1024;

    [GeneratedRegex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    private static partial Regex DnsLabel();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex EnvName();

    public static void ValidateName(string name, string field = "name")
    {
        if (!DnsLabel().IsMatch(name))
        {
            throw StrataException.Invalid(field,
                $"'{name}' is not a valid name: use 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit");
        }
    }

    /// <summary>Returns the tier the spec asks for, or null for <c>auto</c>.</summary>
    public static Tier? ParseTier(string? tier, bool allowFake)
    {
        if (tier is null || tier == TierNames.Auto)
        {
            return null;
        }
        if (!TierNames.TryParse(tier, out var parsed) || (parsed == Tier.Fake && !allowFake))
        {
            throw StrataException.Invalid("tier", $"unknown tier '{tier}'; expected one of process, container, sandbox, vm, wasm, auto");
        }
        return parsed;
    }

    /// <summary>
    /// Checks everything that does not depend on the tier; returns the spec with defaults filled in.
    /// <paramref name="host"/>: the size limits are checked against (default: this host).
    /// </summary>
    public static InstanceSpec Normalize(InstanceSpec spec, HostCapacity? host = null)
    {
        if (spec.Name is not null)
        {
            ValidateName(spec.Name);
        }
        CheckNoNul(spec);
        if (spec.Resources is { } r)
        {
            if (r.Cpus is { } cpus && (double.IsNaN(cpus) || cpus <= 0 || cpus > 1024))
            {
                throw StrataException.Invalid("resources.cpus", $"{cpus} is out of range; give a number of cores greater than 0, such as 0.5 or 2");
            }
            if (r.MemoryBytes is { } mem && mem < MinimumMemoryBytes)
            {
                throw StrataException.Invalid("resources.memoryBytes",
                    mem <= 0
                        ? $"{mem} is not a valid memory limit; give a positive number of bytes (the CLI takes 64M, 1G)"
                        : $"{mem} bytes is below the minimum of {MinimumMemoryBytes} bytes (4 MiB)");
            }
            if (r.Pids is { } pids && pids <= 0)
            {
                throw StrataException.Invalid("resources.pids", $"{pids} is not a valid process limit; give a positive number");
            }
            CheckHostBounds(r, host ?? HostCapacity.Current);
        }
        for (var i = 0; i < (spec.NetworkAliases?.Count ?? 0); i++)
        {
            ValidateName(spec.NetworkAliases![i], $"networkAliases[{i}]");
        }
        if (spec.Rightsize is { } rightsize)
        {
            RightsizeModes.Validate(rightsize, "rightsize");
        }
        if (!RestartPolicy.TryParse(spec.Restart, out _))
        {
            throw StrataException.Invalid("restart", $"'{spec.Restart}' is not a restart policy; use no, on-failure, on-failure:N (N > 0) or always");
        }
        if (spec.Restart is not null and not "no" && spec.AutoRemove)
        {
            throw StrataException.Invalid("autoRemove", "an instance removed when it finishes cannot also have a restart policy; drop --rm or --restart");
        }
        if (spec.Env is { } env)
        {
            foreach (var key in env.Keys)
            {
                if (!EnvName().IsMatch(key))
                {
                    throw StrataException.Invalid($"env.{key}", $"'{key}' is not a valid environment variable name; use letters, digits and '_', not starting with a digit");
                }
            }
        }
        if (spec.WorkingDir is { } wd && !wd.StartsWith('/'))
        {
            throw StrataException.Invalid("workingDir", $"'{wd}' is not an absolute path; working directories start with '/'");
        }
        // [""] alone is Docker's --entrypoint "": no ENTRYPOINT (docs/workload.md).
        if (spec.Command is { } command && command is not [""] && command.Any(string.IsNullOrEmpty))
        {
            throw StrataException.Invalid("command", "contains an empty string; every element must be non-empty (a single \"\" clears the image's ENTRYPOINT)");
        }
        if (spec.Mounts is { } mounts)
        {
            for (var i = 0; i < mounts.Count; i++)
            {
                if (!mounts[i].Source.StartsWith('/'))
                {
                    throw StrataException.Invalid($"mounts[{i}].source", $"'{mounts[i].Source}' is not an absolute host path");
                }
                if (!mounts[i].Target.StartsWith('/'))
                {
                    throw StrataException.Invalid($"mounts[{i}].target", $"'{mounts[i].Target}' is not an absolute path inside the instance");
                }
            }
        }
        for (var i = 0; i < (spec.Tmpfs?.Count ?? 0); i++)
        {
            spec.Tmpfs![i].Validate($"tmpfs[{i}]");
            var target = spec.Tmpfs[i].Target.TrimEnd('/');
            if (spec.Tmpfs.Take(i).Any(t => t.Target.TrimEnd('/') == target) || (spec.Mounts ?? []).Any(m => m.Target.TrimEnd('/') == target))
            {
                throw StrataException.Invalid($"tmpfs[{i}].target", $"'{spec.Tmpfs[i].Target}' is mounted twice; give each path one mount");
            }
        }
        if (spec.TerminalSize is { } size && (!spec.Tty || size.Columns == 0 || size.Rows == 0))
        {
            throw StrataException.Invalid("terminalSize", spec.Tty
                ? $"{size.Columns}x{size.Rows} is not a terminal's size; give columns and rows of at least 1"
                : "a terminal's size needs a terminal; set tty: true, or leave terminalSize out");
        }
        if (spec.TimeoutSeconds is { } timeout && (double.IsNaN(timeout) || timeout <= 0))
        {
            throw StrataException.Invalid("timeoutSeconds", $"{timeout} is not a timeout; give a positive number of seconds (the CLI takes 500ms, 30s, 5m)");
        }
        return spec with { Restart = spec.Restart ?? "no" };
    }
}
