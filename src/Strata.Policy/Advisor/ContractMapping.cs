using System.Globalization;
using System.Text.RegularExpressions;
using Strata.Contracts;
using Strata.Policy.Workloads;

namespace Strata.Policy.Advisor;

/// <summary>
/// The one place where the API's shapes (<see cref="WorkloadRequirements"/>, <see cref="Placement"/>) and
/// the advisor's (<see cref="Requirements"/>, <see cref="Advice"/>) meet. The API carries plain strings;
/// they are validated here, with errors naming <c>requirements.&lt;key&gt;</c> as the workload file does.
/// </summary>
public static partial class ContractMapping
{
    [GeneratedRegex("^[A-Za-z0-9_-]+$")]
    private static partial Regex ModuleName();

    /// <summary>The advisor's requirements for an API request; null means every default.</summary>
    public static Requirements ToRequirements(WorkloadRequirements? contract)
    {
        var req = new Requirements();
        if (contract is null)
        {
            return req;
        }
        if (contract.Os is { } os)
        {
            req = Platform.KnownOs.Contains(os.Trim().ToLowerInvariant())
                ? req with { Os = os.Trim().ToLowerInvariant() }
                : throw StrataException.Invalid("requirements.os", $"'{os}' is not one of {string.Join(", ", Platform.KnownOs)}");
        }
        if (contract.Arch is { } arch && !arch.Trim().Equals("host", StringComparison.OrdinalIgnoreCase))
        {
            req = req with
            {
                Arch = Platform.NormalizeArch(arch)
                    ?? throw StrataException.Invalid("requirements.arch", $"'{arch}' is not one of host, {string.Join(", ", Platform.KnownArch)} (or x86_64, aarch64, ...)"),
            };
        }
        if (contract.KernelModules is { } modules)
        {
            if (modules.FirstOrDefault(m => !ModuleName().IsMatch(m)) is { } bad)
            {
                throw StrataException.Invalid("requirements.kernelModules", $"'{bad}' is not a kernel module name (letters, digits, '_' or '-')");
            }
            req = req with { KernelModules = modules };
        }
        req = req with
        {
            FullOs = contract.FullOs ?? false,
            OwnKernel = contract.OwnKernel ?? false,
            SpecialDrivers = contract.SpecialDrivers ?? false,
            StatefulSnapshots = contract.StatefulSnapshots ?? false,
            Isolation = Choice(contract.Isolation, "isolation", WorkloadFile.IsolationValues) switch
            {
                "none" => IsolationNeed.None,
                "strong" => IsolationNeed.Strong,
                _ => IsolationNeed.Standard,
            },
            Trust = Choice(contract.Trust, "trust", WorkloadFile.TrustValues) == "untrusted" ? TrustLevel.Untrusted : TrustLevel.Trusted,
            Hardware = Choice(contract.Hardware, "hardware", WorkloadFile.HardwareValues) switch
            {
                "shared" => HardwareNeed.Shared,
                "dedicated" => HardwareNeed.Dedicated,
                _ => HardwareNeed.None,
            },
        };
        if (contract.Gpus is { } gpus)
        {
            req = gpus is >= 0 and <= 64 ? req with { Gpus = gpus } : throw StrataException.Invalid("requirements.gpus", $"{gpus} is out of range: give 0 to 64");
        }
        if (contract.StartupBudget is { } budget)
        {
            req = Quantities.TryParseDuration(budget, out var duration, out var error)
                ? req with { StartupBudget = duration }
                : throw StrataException.Invalid("requirements.startupBudget", error);
        }
        return req;
    }

    private static string? Choice(string? value, string key, IReadOnlyList<string> allowed)
    {
        if (value is null)
        {
            return null;
        }
        var normalized = value.Trim().ToLowerInvariant();
        return allowed.Contains(normalized)
            ? normalized
            : throw StrataException.Invalid($"requirements.{key}", $"'{value}' is not one of {string.Join(", ", allowed)}");
    }

    /// <summary>The API form of parsed requirements: only the keys that differ from the defaults, null when none do.</summary>
    public static WorkloadRequirements? ToContract(Requirements req)
    {
        ArgumentNullException.ThrowIfNull(req);
        var contract = new WorkloadRequirements
        {
            Os = req.Os == "linux" ? null : req.Os,
            Arch = req.Arch,
            FullOs = req.FullOs ? true : null,
            OwnKernel = req.OwnKernel ? true : null,
            KernelModules = req.KernelModules.Count > 0 ? req.KernelModules : null,
            SpecialDrivers = req.SpecialDrivers ? true : null,
            Isolation = req.Isolation == IsolationNeed.Standard ? null : req.Isolation.ToString().ToLowerInvariant(),
            Trust = req.Trust == TrustLevel.Trusted ? null : "untrusted",
            Hardware = req.Hardware == HardwareNeed.None ? null : req.Hardware.ToString().ToLowerInvariant(),
            Gpus = req.Gpus > 0 ? req.Gpus : null,
            StatefulSnapshots = req.StatefulSnapshots ? true : null,
            StartupBudget = req.StartupBudget is { } b ? FormatDuration(b) : null,
        };
        return contract == new WorkloadRequirements() ? null : contract;
    }

    private static string FormatDuration(TimeSpan value) =>
        value.Ticks % TimeSpan.TicksPerMillisecond == 0
            ? $"{((long)value.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)}ms"
            : $"{(value.Ticks / 10).ToString(CultureInfo.InvariantCulture)}us";

    /// <summary>The record of an advisor decision, as stored with the instance and returned by the API.</summary>
    public static Placement ToPlacement(Advice advice)
    {
        ArgumentNullException.ThrowIfNull(advice);
        return new Placement
        {
            Tier = advice.Chosen.ToName(),
            ChosenBy = "advisor",
            Reasons = advice.Reasons.Select(r => new PlacementReason(r.RuleId, r.Text)).ToList(),
            Fallback = advice.Fallback is { } f ? new PlacementFallback(f.Ideal.ToName(), f.Taken.ToName(), f.Why) : null,
            RunnersUp = advice.RunnersUp.Select(r => new PlacementRunnerUp(r.Tier.ToName(), r.Viable, r.WhyNot, r.Cost.ToString())).ToList(),
            PinCpus = advice.PinCpus,
            Cost = advice.Cost.ToString(),
        };
    }
}
