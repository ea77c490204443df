using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Contracts.Host;
using Strata.Node.Networking;

namespace Strata.Node.Guest;

/// <summary>
/// The network side of a live move of a VM or sandbox (docs/move.md, "Networked VMs and sandboxes"), the same for both
/// QEMU tiers: the source describes the membership, the target joins a network of the same name before anything else
/// of the move is made, with the guest's MAC and, when it can, its address.
/// </summary>
internal static class GuestMoveNetwork
{
    /// <summary>On the source: the membership of an instance on <paramref name="network"/> (null: on none).</summary>
    public static MoveNetwork? Describe(NetworkRegistry? registry, string instanceId, string? network, string namesDisk, string guest)
    {
        if (network is null)
        {
            return null;
        }
        var described = registry?.MoveNetworkOf(instanceId)
            ?? throw new StrataException(ErrorKind.Conflict, $"the {guest}'s membership of network '{network}' is gone on this node, so it cannot move with it; remove the {guest} and create it again");
        return described with { NamesDisk = File.Exists(namesDisk) };
    }

    /// <summary>
    /// On the target, first: joins the moving guest's network (its name, ports, MAC; its address when this network's
    /// subnet holds it and it is free), with <paramref name="namesDisk"/> as its names disk, whose line the guest reads
    /// its address from when it changed. A missing network or a taken port is refused here, before anything of the
    /// move exists. The undo (tap, lease, rules, names disk) is on <paramref name="revert"/>. Null without a network.
    /// </summary>
    public static async Task<TapAttachment?> JoinAsync(NetworkRegistry? registry, IncomingMove move, string namesDisk, string guest, Revert revert,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(move);
        ArgumentNullException.ThrowIfNull(revert);
        if (move.Network is not { } moving)
        {
            return null;
        }
        var fix = $"create it there first (strata network create {moving.Network}{(move.Project == "default" ? "" : " --project " + move.Project)}, on the target daemon) and move again";
        if (registry is null)
        {
            throw StrataException.Conflict($"the moving {guest} is on network '{moving.Network}', and this daemon has no networks configured; {fix}");
        }
        revert.Add(() => File.Delete(namesDisk));
        TapAttachment tap;
        try
        {
            tap = await registry.AttachTapAsync(new NetworkAttachRequest
            {
                InstanceId = move.InstanceId,
                Name = move.Name,
                Project = move.Project,
                Network = moving.Network,
                Ports = moving.Ports,
                HostsFile = moving.NamesDisk ? namesDisk : null,
                Aliases = move.Spec.NetworkAliases ?? [],
                Mac = moving.Mac,
                PreferredAddress = moving.Address,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (StrataException e) when (e.Kind == ErrorKind.NotFound)
        {
            throw StrataException.Conflict($"the target has no network '{moving.Network}' in project '{move.Project}', which the moving {guest} is on; {fix}");
        }
        revert.AddAsync(async () => await registry.DetachAsync(move.InstanceId, CancellationToken.None).ConfigureAwait(false));
        if (tap.Address != moving.Address && !moving.NamesDisk)
        {
            // Only the names disk tells a running guest a new address; without it the guest would keep the old one.
            throw StrataException.Conflict(
                $"the moving {guest} has no names disk (it was created by an older Strata), so it cannot learn a new address, and network '{moving.Network}' here does not hold its address {moving.Address}; recreate it on the target");
        }
        return tap;
    }
}
