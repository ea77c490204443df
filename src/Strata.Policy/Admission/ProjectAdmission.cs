using System.Globalization;
using Strata.Contracts;
using Strata.Policy.Advisor;

namespace Strata.Policy.Admission;

/// <summary>
/// A project's rules applied to one request, as pure functions: the restrictions (what a workload may ask
/// for) and the quota (how much the project may hold). Each refusal is a Forbidden <see cref="StrataException"/>
/// whose message names the rule, what was asked and what to do. The control plane calls these under its
/// admission lock, so the usage it passes in already counts every create in flight.
/// </summary>
public static class ProjectAdmission
{
    /// <summary>Throws Forbidden when the spec asks for something the project's restrictions deny on this tier.</summary>
    public static void CheckRestrictions(string project, ProjectRestrictions rules, InstanceSpec spec, Tier tier)
    {
        var tierName = tier.ToName();
        if (rules.AllowedTiers is { } allowed && !allowed.Any(t => TierNames.TryParse(t, out var a) && a == tier))
        {
            throw Refuse("tier", $"project '{project}' may not use tier {tierName}: its allowed tiers are {string.Join(", ", allowed)}; choose one of them (--tier) or ask an administrator (strata project set-restrictions {project} --allowed-tiers ...)");
        }
        if (tier == Tier.Process && !rules.AllowProcessTier)
        {
            throw Refuse("tier", $"project '{project}' may not use the process tier: it runs straight on the host; use container, sandbox, vm or wasm, or ask an administrator to allow it (--process-tier allow)");
        }
        if (string.Equals(spec.Network, "host", StringComparison.OrdinalIgnoreCase) && !rules.AllowHostNetwork)
        {
            throw Refuse("network", $"project '{project}' may not use the host network (--network host); drop it (the default is a private network namespace) or ask an administrator (--host-network allow)");
        }
        if (spec.Mounts is { Count: > 0 } mounts && !rules.AllowHostMounts)
        {
            throw Refuse("mounts", $"project '{project}' may not mount host paths ({mounts[0].Source}); drop the --volume/mounts or ask an administrator (--host-mounts allow)");
        }
        if (IsHostPathImage(spec.Image) && !rules.AllowHostMounts)
        {
            throw Refuse("image", $"project '{project}' may not use host paths as images ({spec.Image}): that would expose the host's files; use an image from the image store (strata image ls), or ask an administrator (--host-mounts allow)");
        }
        if (spec.Security?.Devices is { Count: > 0 } devices && !rules.AllowDevices)
        {
            throw Refuse("security.devices", $"project '{project}' may not use host devices ({devices[0]}); drop --device or ask an administrator (--devices allow)");
        }
        if (spec.Security?.CapAdd is { Count: > 0 } caps && !rules.AllowCapAdd)
        {
            throw Refuse("security.capAdd", $"project '{project}' may not add Linux capabilities ({string.Join(", ", caps)}); drop --cap-add or ask an administrator (--cap-add allow)");
        }
        if (IsUntrusted(spec) && tier != Tier.Fake)
        {
            if (TierRank.Of(tier) < TierRank.Of(TierAdvisor.UntrustedFloor))
            {
                // Below the fixed floor no project can allow: an invalid request (400, the advisor's rule), not a project rule.
                throw StrataException.Invalid("tier",
                    $"[R8-untrusted] untrusted code (requirements.trust: untrusted) never runs on {tierName}, in any project; use --tier auto, wasm, sandbox or vm");
            }
            var minimum = MinimumForUntrusted(rules);
            if (TierRank.Of(tier) < TierRank.Of(minimum))
            {
                throw Refuse("tier", $"project '{project}' runs untrusted code (requirements.trust: untrusted) on {minimum.ToName()} or stronger, not on {tierName}; use --tier auto (the advisor honours the minimum) or one of {string.Join(", ", TierRank.AtLeast(minimum).Select(t => t.ToName()))}");
            }
        }
    }

    /// <summary><c>dir:/path</c> root filesystems and module or disk files given by path read the host's files.</summary>
    public static bool IsHostPathImage(string? image) =>
        image is { Length: > 0 } && (image.StartsWith("dir:", StringComparison.Ordinal) || image.StartsWith('/') || image.StartsWith("./", StringComparison.Ordinal)
            || image.StartsWith("../", StringComparison.Ordinal) || image.StartsWith("file:", StringComparison.Ordinal));

    public static bool IsUntrusted(InstanceSpec spec) =>
        string.Equals(spec.Requirements?.Trust, "untrusted", StringComparison.OrdinalIgnoreCase);

    /// <summary>The project's minimum tier for untrusted code (sandbox unless set).</summary>
    public static Tier MinimumForUntrusted(ProjectRestrictions rules) =>
        rules.MinimumTierForUntrusted is { } text && TierNames.TryParse(text, out var t) ? t : TierAdvisor.DefaultMinimumForUntrusted;

    /// <summary>The advisor's view of the project's rules, so <c>tier: auto</c> only picks what admission accepts.</summary>
    public static ProjectOverrides ToOverrides(string project, ProjectRestrictions rules)
    {
        HashSet<Tier>? allowed = null;
        if (rules.AllowedTiers is { } list)
        {
            allowed = [.. list.Select(t => TierNames.TryParse(t, out var tier) ? tier : (Tier?)null).OfType<Tier>()];
        }
        if (!rules.AllowProcessTier)
        {
            allowed ??= [.. TierNames.UserTiers];
            allowed.Remove(Tier.Process);
        }
        if (allowed is { Count: 0 })
        {
            allowed = null; // nothing left: let admission give the clear refusal instead of an advisor error
        }
        return new ProjectOverrides
        {
            Name = project,
            AllowedTiers = allowed,
            MinimumTierForUntrusted = rules.MinimumTierForUntrusted is null ? null : MinimumForUntrusted(rules),
        };
    }

    /// <summary>Adds what one spec counts for to a usage.</summary>
    public static ProjectUsage Add(ProjectUsage usage, InstanceSpec spec) => new()
    {
        Instances = usage.Instances + 1,
        Cpus = usage.Cpus + (spec.Resources?.Cpus ?? 0),
        MemoryBytes = usage.MemoryBytes + (spec.Resources?.MemoryBytes ?? 0),
        Pids = usage.Pids + (spec.Resources?.Pids ?? 0),
        DiskBytes = usage.DiskBytes + (spec.Resources?.DiskBytes ?? 0),
    };

    /// <summary>
    /// Throws Forbidden when admitting the spec would take the project over a limit. A spec must declare every
    /// resource the project limits (an undeclared amount could not be counted).
    /// </summary>
    public static void CheckQuota(string project, ProjectQuota quota, ProjectUsage usage, InstanceSpec spec)
    {
        var r = spec.Resources;
        if (quota.Instances is { } maxInstances && usage.Instances + 1 > maxInstances)
        {
            throw Refuse("quota.instances", $"project '{project}' is at its instance quota: {usage.Instances} of {maxInstances} instances in use; remove one (strata rm) or ask an administrator to raise it (strata project set-quota {project} --instances N)");
        }
        if (quota.Cpus is { } maxCpus)
        {
            var want = r?.Cpus ?? throw Undeclared(project, "cpus", "resources.cpus", "--cpus");
            if (usage.Cpus + want > maxCpus + 1e-9)
            {
                throw Over(project, "cpus", "quota.cpus", F(usage.Cpus), F(want), F(maxCpus), "--cpus");
            }
        }
        if (quota.MemoryBytes is { } maxMemory)
        {
            var want = r?.MemoryBytes ?? throw Undeclared(project, "memory", "resources.memoryBytes", "--memory");
            if (usage.MemoryBytes + want > maxMemory)
            {
                throw Over(project, "memory", "quota.memoryBytes", Bytes(usage.MemoryBytes), Bytes(want), Bytes(maxMemory), "--memory");
            }
        }
        if (quota.Pids is { } maxPids)
        {
            var want = r?.Pids ?? throw Undeclared(project, "pids", "resources.pids", "--pids");
            if (usage.Pids + want > maxPids)
            {
                throw Over(project, "pids", "quota.pids", F(usage.Pids), F(want), F(maxPids), "--pids");
            }
        }
        if (quota.DiskBytes is { } maxDisk)
        {
            var want = r?.DiskBytes ?? throw Undeclared(project, "disk", "resources.diskBytes", "--disk");
            if (usage.DiskBytes + want > maxDisk)
            {
                throw Over(project, "disk", "quota.diskBytes", Bytes(usage.DiskBytes), Bytes(want), Bytes(maxDisk), "--disk");
            }
        }
    }

    /// <summary>
    /// Throws Forbidden when a live resize of instance <paramref name="name"/> from <paramref name="before"/> to
    /// <paramref name="after"/> would take the project over its memory or CPU quota. Only what grows is checked: a
    /// shrink, or an unchanged amount, is never refused (a project over a lowered quota can always give back).
    /// <paramref name="usage"/> counts the instance at <paramref name="before"/>; <paramref name="scope"/> says where
    /// it was counted ("across the cluster"), and the refusal adds the project's use there now.
    /// </summary>
    public static void CheckResize(string project, string name, ProjectQuota quota, ProjectUsage usage, ResourceSpec? before, ResourceSpec after, string scope)
    {
        var growsMemory = after.MemoryBytes > (before?.MemoryBytes ?? 0);
        var growsCpus = after.Cpus > (before?.Cpus ?? 0);
        var limits = new ProjectQuota { MemoryBytes = growsMemory ? quota.MemoryBytes : null, Cpus = growsCpus ? quota.Cpus : null };
        if (limits.MemoryBytes is null && limits.Cpus is null)
        {
            return;
        }
        var others = usage with
        {
            Cpus = Math.Max(0, usage.Cpus - (before?.Cpus ?? 0)),
            MemoryBytes = Math.Max(0, usage.MemoryBytes - (before?.MemoryBytes ?? 0)),
        };
        try
        {
            CheckQuota(project, limits, others, new InstanceSpec { Name = name, Resources = after });
        }
        catch (StrataException e) when (e.Kind == ErrorKind.Forbidden)
        {
            var mine = $"{(before?.MemoryBytes is { } m ? Bytes(m) : "no memory limit")} and {(before?.Cpus is { } c ? F(c) : "no CPU limit")}";
            throw new StrataException(ErrorKind.Forbidden,
                $"resizing '{name}': {e.Message}. Counted {scope}: the project uses {Bytes(usage.MemoryBytes)} of memory and {F(usage.Cpus)} CPUs now, {mine} of them by '{name}' ('in use' is the rest)", e.Field);
        }
    }

    private static StrataException Over(string project, string what, string field, string used, string want, string max, string flag) =>
        Refuse(field, $"project '{project}' would exceed its {what} quota: {used} in use + {want} asked > {max}; ask for less ({flag}), remove instances, or ask an administrator to raise it (strata project set-quota {project})");

    private static StrataException Undeclared(string project, string what, string field, string flag) =>
        Refuse(field, $"project '{project}' has a {what} quota, so every instance must declare its {what}: set {field} ({flag})");

    private static StrataException Refuse(string field, string message) => new(ErrorKind.Forbidden, message, field);

    private static string F(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);

    private static string Bytes(long value) =>
        value % (1024L * 1024 * 1024) == 0 && value > 0 ? $"{value / (1024L * 1024 * 1024)}G"
        : value % (1024L * 1024) == 0 && value > 0 ? $"{value / (1024L * 1024)}M"
        : $"{value.ToString(CultureInfo.InvariantCulture)} bytes";
}
