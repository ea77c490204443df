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

    public async Task<InstanceInfo?> FindAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            return await Call(() => _client.GetAsync(name, cancellationToken)).ConfigureAwait(false);
        }
        catch (StrataException e) when (e.Kind == ErrorKind.NotFound)
        {
            return null;
        }
    }

    public async Task CheckVolumeAsync(string volume, string digest, CancellationToken cancellationToken) =>
        await Call(() => _client.CheckMoveVolumeAsync(volume, digest, cancellationToken)).ConfigureAwait(false);

    public async Task<VolumeArrival> MoveVolumeInAsync(string volume, string archive, string digest, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken) =>
        await Call(() => _client.MoveVolumeInAsync(volume, archive, digest, labels, cancellationToken)).ConfigureAwait(false);

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

    public async Task<string?> ImageIdAsync(string reference, CancellationToken cancellationToken)
    {
        try
        {
            return (await Call(() => _client.InspectImageAsync(reference, cancellationToken)).ConfigureAwait(false)).Image.Id;
        }
        catch (StrataException e) when (e.Kind == ErrorKind.NotFound)
        {
            return null;
        }
    }

    public async Task ImportImageAsync(CarriedImage image, Func<Stream, CancellationToken, Task> write, CancellationToken cancellationToken)
    {
        try
        {
            await Call(() => _client.ImportImageAsync(write, image.Name, cancellationToken)).ConfigureAwait(false);
        }
        catch (StrataException e) when (e.Kind is ErrorKind.Forbidden or ErrorKind.Unauthorized)
        {
            throw new StrataException(e.Kind,
                $"the target daemon {Name} has no image {image.Name} ({image.Id}), and only its host administrator may add one to its image store (one store for the whole host; it said: {e.Message}); "
                + "move with the target's admin token (ROOT/admin.token there), or import the image there first (strata image import), then move again", inner: e);
        }
    }

    public async Task RemoveImageAsync(string name, string id, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(60));
        if (await ImageIdAsync(name, limit.Token).ConfigureAwait(false) != id)
        {
            return; // never imported, or the name there is another image by now
        }
        try
        {
            await Call(() => _client.RemoveImageAsync(name, force: false, limit.Token)).ConfigureAwait(false);
        }
        catch (StrataException e) when (e.Kind is ErrorKind.NotFound or ErrorKind.Conflict)
        {
            // gone already, or an instance there uses it by now: it stays
        }
    }
}
