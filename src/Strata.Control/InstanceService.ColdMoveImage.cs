using Strata.Contracts;
using Strata.Contracts.Host;

namespace Strata.Control;

/// <summary>An image of this daemon's store as a cold move carries it: what it is found by, its ID, the name it keeps, its size.</summary>
public sealed record CarriedImage(string Reference, string Id, string Name, long Bytes);

/// <summary>The images of this daemon's store, as a cold move carries one to a target that lacks it (docs/move.md).</summary>
public interface IMovableImages
{
    /// <summary>The image <paramref name="reference"/> (an instance's image: a name, an ID or a digest) names here, or null when the store has none.</summary>
    CarriedImage? Find(string reference);

    /// <summary>Writes the image to <paramref name="output"/> as an OCI image-layout tar, streamed; <paramref name="progress"/> hears the bytes written.</summary>
    Task WriteAsync(CarriedImage image, Stream output, IProgress<long>? progress, CancellationToken cancellationToken);
}

public sealed partial class InstanceService
{
    /// <summary>This daemon's image store, from which cold moves carry an image the target lacks (none when not set).</summary>
    public IMovableImages? MovableImages { get; set; }

    /// <summary>
    /// Before anything stops: the target is asked for the instance's image (by the reference the spec names, its ID
    /// compared with the one here). The same image there: nothing to do. None of that name: the image is streamed to
    /// the target's import under its name here, with its bytes in the progress, and the undo removes it there again
    /// (unless an instance there uses it by then). Another image under that name there: refused, naming both IDs.
    /// Returns what was carried, or null.
    /// </summary>
    private async Task<CarriedImage?> CarryImageAsync(string name, InstanceSpec spec, IColdMoveDestination destination,
        IProgress<ColdMoveStep>? progress, Revert revert, CancellationToken cancellationToken)
    {
        if (spec.Image is not { Length: > 0 } reference || MovableImages?.Find(reference) is not { } image)
        {
            return null; // no image, or one the store does not hold (a wasm file path): the target resolves it as any create does
        }
        var there = await destination.ImageIdAsync(reference, cancellationToken).ConfigureAwait(false);
        if (there == image.Id)
        {
            return null;
        }
        if (there is not null)
        {
            throw StrataException.Conflict(
                $"image {reference} of instance '{name}' is {Short(image.Id)} here but {Short(there)} on {destination.Name}, and a move does not replace the target's image; "
                + $"give one of them another name (strata image tag, then create from that name) or remove it on the target, then move again");
        }
        var size = $"{image.Bytes / 1024.0 / 1024.0:0.0} MiB";
        progress?.Report(new ColdMoveStep("sending-image", 1, ColdMoveSteps, $"sending image {image.Name} ({Short(image.Id)}, {size}) to {destination.Name}")
        {
            ImageBytes = 0,
            ImageTotal = image.Bytes,
        });
        // Registered first: an import cancelled as it finished still leaves nothing there (a half import the target undoes itself).
        revert.AddAsync(() => destination.RemoveImageAsync(image.Name, image.Id, CancellationToken.None));
        // Reported on the writer's thread, in order (Progress<T> would post to the pool and could land after "image-sent").
        var sent = new InlineProgress<long>(bytes => progress?.Report(new ColdMoveStep("sending-image", 1, ColdMoveSteps, $"sending image {image.Name} to {destination.Name}")
        {
            ImageBytes = bytes,
            ImageTotal = image.Bytes,
        }));
        await destination.ImportImageAsync(image, (output, ct) => MovableImages.WriteAsync(image, output, sent, ct), cancellationToken).ConfigureAwait(false);
        progress?.Report(new ColdMoveStep("image-sent", 1, ColdMoveSteps, $"image {image.Name} ({size}) is on {destination.Name}")
        {
            ImageBytes = image.Bytes,
            ImageTotal = image.Bytes,
        });
        LogColdMoveCarriedImage(name, image.Name, image.Id, destination.Name, image.Bytes);
        return image;

        static string Short(string id) => id.Length > 19 ? id[..19] : id;
    }
}

/// <summary>An <see cref="IProgress{T}"/> that reports on the caller's thread, in order.</summary>
internal sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
