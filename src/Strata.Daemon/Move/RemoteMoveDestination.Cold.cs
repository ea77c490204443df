using Strata.Client;
using Strata.Contracts;
using Strata.Control;

namespace Strata.Daemon.Move;

/// <summary>The target of a cold move: the instance is created there over its API, then switched with its captured state.</summary>
internal sealed partial class RemoteMoveDestination : IColdMoveDestination
{
    public async Task<InstanceInfo> CreateAsync(InstanceSpec spec, CancellationToken cancellationToken) =>
        await Call(() => _client.CreateAsync(spec, start: false, cancellationToken)).ConfigureAwait(false);

    public async Task<InstanceInfo> MoveInAsync(string name, string? stateArchive, bool start, CancellationToken cancellationToken) =>
        await Call(() => _client.MoveInAsync(name, stateArchive, start, cancellationToken)).ConfigureAwait(false);

    public async Task RemoveAsync(string name, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            await Call(async () =>
            {
                await _client.DeleteAsync(name, force: true, limit.Token).ConfigureAwait(false);
                return true;
            }).ConfigureAwait(false);
        }
        catch (StrataException e) when (e.Kind == ErrorKind.NotFound)
        {
        }
    }

    public async Task CheckVolumeAsync(string volume, string digest, CancellationToken cancellationToken) =>
        await Call(() => _client.CheckMoveVolumeAsync(volume, digest, cancellationToken)).ConfigureAwait(false);

    public async Task<VolumeArrival> MoveVolumeInAsync(string volume, string archive, string digest, CancellationToken cancellationToken) =>
        await Call(() => _client.MoveVolumeInAsync(volume, archive, digest, cancellationToken)).ConfigureAwait(false);

    public async Task RemoveVolumeAsync(string volume, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(60));
        await Call(async () =>
        {
            await _client.RemoveMovedVolumeAsync(volume, limit.Token).ConfigureAwait(false);
            return true;
        }).ConfigureAwait(false);
    }
}
