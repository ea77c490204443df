using Strata.Contracts;

namespace Strata.Node.Drivers;

/// <summary>
/// Spec options that configure a process on the host's kernel (the container tier's namespaces, capabilities,
/// device cgroup and cpusets). The tiers with a guest kernel (sandbox, vm) refuse them with the reason instead of
/// ignoring them: a user who asked for a read-only root or fewer capabilities must not get a run without them.
/// </summary>
internal static class GuestTierOptions
{
    public static void RefuseHostKernelOptions(InstanceSpec spec, string tier)
    {
        var security = spec.Security;
        if (spec.Tmpfs is { Count: > 0 })
        {
            throw StrataException.Invalid("tmpfs",
                $"tmpfs mounts are not implemented on the {tier} tier (its guest has its own kernel and file systems); drop --tmpfs or use --tier container");
        }
        if (security?.ReadOnlyRootfs == true)
        {
            throw StrataException.Invalid("security.readOnlyRootfs",
                $"--read-only is not implemented on the {tier} tier (its guest root is always writable; changes go with the instance); drop --read-only or use --tier container");
        }
        if (security?.CapAdd is { Count: > 0 } || security?.CapDrop is { Count: > 0 })
        {
            throw StrataException.Invalid(security.CapAdd is { Count: > 0 } ? "security.capAdd" : "security.capDrop",
                $"--cap-add/--cap-drop set a container's Linux capabilities; the {tier} tier isolates with its own guest kernel and does not apply them; drop them or use --tier container");
        }
        if (security?.Devices is { Count: > 0 })
        {
            throw StrataException.Invalid("security.devices",
                $"host devices cannot be passed into the {tier} tier's guest (no device passthrough); drop --device or use --tier container");
        }
        if (spec.Resources?.Cpuset is not null)
        {
            throw StrataException.Invalid("resources.cpuset",
                $"the {tier} tier does not pin its vCPUs to host CPUs; drop --cpuset (use --cpus for the number of vCPUs) or use --tier container");
        }
    }
}
