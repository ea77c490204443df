using Strata.Contracts;
using Strata.Control;
using Strata.Images;

namespace Strata.Daemon.Move;

/// <summary>The daemon's image store as cold moves carry from it: an instance's image, streamed as an OCI layout tar.</summary>
internal sealed class StoreImages(ImageStore store) : IMovableImages
{
    public CarriedImage? Find(string reference)
    {
        try
        {
            // The name the instance was created by travels (busybox stays busybox:latest); an ID keeps the image's own name.
            var name = ImageReference.TryParse(reference, out var parsed, out _) && parsed!.Digest is null && !LooksLikeId(reference) ? parsed.ToString() : null;
            var export = store.PlanExport(reference, name);
            return new CarriedImage(reference, export.Image.Id.ToString(), export.Name, export.Bytes);
        }
        catch (StrataException e) when (e.Kind is ErrorKind.NotFound or ErrorKind.InvalidArgument)
        {
            return null;
        }
    }

    public Task WriteAsync(CarriedImage image, Stream output, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var export = store.PlanExport(image.Reference, image.Name);
        if (export.Image.Id.ToString() != image.Id)
        {
            throw StrataException.Conflict($"image {image.Name} changed here during the move (now {export.Image.Id}); move again");
        }
        return store.WriteOciLayoutAsync(export, output, progress, cancellationToken);
    }

    private static bool LooksLikeId(string reference)
    {
        var hex = reference.StartsWith(Digest.Sha256Prefix, StringComparison.Ordinal) ? reference[Digest.Sha256Prefix.Length..] : reference;
        return hex.Length is >= 4 and <= 64 && hex.All(char.IsAsciiHexDigitLower);
    }
}
