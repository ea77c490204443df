using System.Globalization;
using Strata.Contracts;

namespace Strata.Control;

/// <summary>Bounds every tier shares: no limit larger than the host, no NUL byte in a string that becomes argv or environ.</summary>
public static partial class SpecValidator
{
    /// <summary>
    /// A limit beyond the host could never be met: a container would get a cgroup limit that means "none", a VM
    /// would be refused by QEMU or swap the host to death. One place for every tier, before any tier looks at it.
    /// </summary>
    internal static void CheckHostBounds(ResourceSpec resources, HostCapacity host)
    {
        if (resources.Cpus is { } cpus && cpus > host.Cpus)
        {
            throw StrataException.Invalid("resources.cpus",
                $"{cpus.ToString(CultureInfo.InvariantCulture)} cores is more than this host has ({host.Cpus} CPUs); give at most {host.Cpus}");
        }
        if (resources.MemoryBytes is { } memory && memory > host.MemoryBytes)
        {
            throw StrataException.Invalid("resources.memoryBytes",
                $"{memory} bytes is more than this host's memory ({host.MemoryBytes} bytes, {host.MemoryBytes >> 20} MiB); give at most that");
        }
    }

    /// <summary>
    /// A string that reaches execve, an environment block or a path is cut at its first NUL by the kernel, so the
    /// workload would run something other than what the spec says: refused, naming the field.
    /// </summary>
    internal static void CheckNoNul(InstanceSpec spec)
    {
        CheckNoNul("image", spec.Image);
        CheckNoNul("workingDir", spec.WorkingDir);
        CheckNoNul("command", spec.Command);
        CheckNoNul("args", spec.Args);
        if (spec.Env is { } env)
        {
            foreach (var (key, value) in env)
            {
                CheckNoNul($"env.{key.Replace("\0", "\\0", StringComparison.Ordinal)}", key + value);
            }
        }
        if (spec.Mounts is { } mounts)
        {
            for (var i = 0; i < mounts.Count; i++)
            {
                CheckNoNul($"mounts[{i}].source", mounts[i].Source);
                CheckNoNul($"mounts[{i}].target", mounts[i].Target);
            }
        }
        CheckNoNul("security.user", spec.Security?.User);
    }

    private static void CheckNoNul(string field, IReadOnlyList<string>? values)
    {
        for (var i = 0; values is not null && i < values.Count; i++)
        {
            CheckNoNul($"{field}[{i}]", values[i]);
        }
    }

    private static void CheckNoNul(string field, string? value)
    {
        if (value is not null && value.Contains('\0', StringComparison.Ordinal))
        {
            throw StrataException.Invalid(field, "contains a NUL byte (\\u0000), which cannot be passed to a program (its arguments, environment and paths end at the first NUL); remove it");
        }
    }
}
