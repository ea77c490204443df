using Strata.Contracts;

namespace Strata.Qemu.Migration;

/// <summary>
/// What must be equal on both sides of a live migration: the machine type, the CPU model, the vCPU count and the RAM
/// size (QEMU refuses or corrupts the guest otherwise). Read from a QEMU argv, so it works whatever builder made it.
/// </summary>
public sealed record MachineIdentity(string Machine, string Cpu, string Smp, string Memory)
{
    /// <summary>QEMU's default CPU model when the argv names none (qemu64 on x86 under TCG).</summary>
    public const string DefaultCpu = "(default)";

    public static MachineIdentity FromArgv(IReadOnlyList<string> argv)
    {
        ArgumentNullException.ThrowIfNull(argv);
        string? machine = null;
        var cpu = DefaultCpu;
        var smp = "1";
        var memory = "128";
        for (var i = 1; i + 1 < argv.Count; i++)
        {
            switch (argv[i])
            {
                case "-M" or "-machine":
                    // The machine type is the first key, or type=...; properties that follow (memory-backend=...) are local choices.
                    var parts = argv[i + 1].Split(',');
                    machine = parts.FirstOrDefault(p => p.StartsWith("type=", StringComparison.Ordinal))?[5..] ?? parts[0];
                    break;
                case "-cpu":
                    cpu = argv[i + 1];
                    break;
                case "-smp":
                    smp = argv[i + 1];
                    break;
                case "-m":
                    memory = argv[i + 1];
                    break;
            }
        }
        if (machine is null)
        {
            throw StrataException.Invalid("argv", "the QEMU argv names no machine type (-M); a migratable VM needs one on both sides");
        }
        return new MachineIdentity(machine, cpu, smp, memory);
    }

    /// <summary>Throws when the target would not be the same machine as the source, naming what differs.</summary>
    public void EnsureSameAs(MachineIdentity source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var differences = new List<string>();
        if (Machine != source.Machine)
        {
            differences.Add($"machine {Machine} instead of {source.Machine}");
        }
        if (Cpu != source.Cpu)
        {
            differences.Add($"CPU model {Cpu} instead of {source.Cpu}");
        }
        if (Smp != source.Smp)
        {
            differences.Add($"{Smp} vCPUs instead of {source.Smp}");
        }
        if (Memory != source.Memory)
        {
            differences.Add($"{Memory} MiB of RAM instead of {source.Memory}");
        }
        if (differences.Count > 0)
        {
            throw StrataException.Invalid("target",
                $"the target would run {string.Join(", ", differences)}; a live migration needs the same machine, CPU model, vCPUs and RAM on both sides (use a CPU model both hosts have)");
        }
    }
}
