using Strata.Contracts;
using Strata.Node.Networking;
using Strata.Testing;

namespace Strata.Sandbox.Tests;

/// <summary>
/// The target side of a networked live move, without a guest (docs/move.md, "Networked VMs and sandboxes"): the tap
/// keeps the moved guest's MAC, the address is the guest's own when the subnet holds it and it is free, else another,
/// and the names disk tells the guest its address.
/// </summary>
public sealed partial class SandboxNetworkTests
{
    [SkippableFact]
    public async Task AttachTap_MovedGuest_KeepsMacAndFreeAddress_ElseLeasesAnother_MacClashRefused()
    {
        RequireNetworks();
        var third = Random.Shared.Next(100, 250);
        var prefix = $"10.236.{third}.";
        await _networks.CreateAsync(new CreateNetworkRequest { Name = "moved", Subnet = prefix + "0/24" }, "default", CancellationToken.None);
        var a = "m" + Guid.NewGuid().ToString("N");
        var b = "n" + Guid.NewGuid().ToString("N");
        var c = "o" + Guid.NewGuid().ToString("N");
        var names = _temp.Combine("moved-names.img");
        try
        {
            var before = Census();
            // The guest's own address, free here: leased again, with the guest's MAC (not the one derived from the address).
            var kept = await _networks.AttachTapAsync(new NetworkAttachRequest
            {
                InstanceId = a, Name = "kept", Project = "default", Network = "moved", HostsFile = names,
                Mac = "52:54:0a:ec:01:32", PreferredAddress = prefix + "50",
            }, CancellationToken.None);
            Assert.Equal(prefix + "50", kept.Address);
            Assert.Equal("52:54:0a:ec:01:32", kept.Mac);
            Assert.Equal("52:54:0a:ec:01:32", _networks.TapAttachmentOf(a)!.Mac);
            var described = _networks.MoveNetworkOf(a)!;
            Assert.Equal(("moved", "52:54:0a:ec:01:32", prefix + "50"), (described.Network, described.Mac, described.Address));
            var disk = File.ReadAllText(names).TrimEnd('\0');
            Assert.Contains($"\n# strata-net {prefix}50/24,{prefix}1\n", disk, StringComparison.Ordinal);

            // The same MAC again on this bridge: refused before anything is made.
            var census = Census();
            var clash = await Assert.ThrowsAsync<StrataException>(() => _networks.AttachTapAsync(new NetworkAttachRequest
            {
                InstanceId = b, Name = "twin", Project = "default", Network = "moved", Mac = "52:54:0a:ec:01:32",
            }, CancellationToken.None));
            Assert.Equal(ErrorKind.Conflict, clash.Kind);
            Assert.Contains("'kept'", clash.Message, StringComparison.Ordinal);
            Assert.Equal(census, Census());

            // The address is taken (another member), or outside the subnet: another one is leased.
            var taken = await _networks.AttachTapAsync(new NetworkAttachRequest
            {
                InstanceId = b, Name = "taken", Project = "default", Network = "moved", Mac = "52:54:0a:ec:01:33", PreferredAddress = prefix + "50",
            }, CancellationToken.None);
            Assert.NotEqual(prefix + "50", taken.Address);
            Assert.StartsWith(prefix, taken.Address, StringComparison.Ordinal);
            var outside = await _networks.AttachTapAsync(new NetworkAttachRequest
            {
                InstanceId = c, Name = "outside", Project = "default", Network = "moved", Mac = "52:54:0a:ec:01:34", PreferredAddress = "10.1.2.3",
            }, CancellationToken.None);
            Assert.StartsWith(prefix, outside.Address, StringComparison.Ordinal);

            Assert.Empty(await _networks.DetachAsync(a, CancellationToken.None));
            Assert.Empty(await _networks.DetachAsync(b, CancellationToken.None));
            Assert.Empty(await _networks.DetachAsync(c, CancellationToken.None));
            Assert.Equal(before, Census());
        }
        finally
        {
            await _networks.DetachAsync(a, CancellationToken.None);
            await _networks.DetachAsync(b, CancellationToken.None);
            await _networks.DetachAsync(c, CancellationToken.None);
            await _networks.RemoveAsync("moved", "default", CancellationToken.None);
        }
    }
}
