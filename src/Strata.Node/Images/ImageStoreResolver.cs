using Strata.Contracts;
using Strata.Images;

namespace Strata.Node.Images;

/// <summary>Serves the OCI tiers' root filesystems (layers and config) from the image store.</summary>
public sealed class ImageStoreResolver(ImageStore store) : IImageResolver
{
    public async Task<ResolvedImage> ResolveAsync(string reference, CancellationToken cancellationToken)
    {
        PreparedRootfs prepared;
        try
        {
            prepared = await store.PrepareRootfsLayersAsync(reference, cancellationToken).ConfigureAwait(false);
        }
        catch (StrataException e) when (e.Kind is ErrorKind.NotFound or ErrorKind.InvalidArgument)
        {
            const string Hint = "pull, import or build it first";
            var message = e.Message.TrimEnd('.');
            throw StrataException.Invalid("image", (message.EndsWith(Hint, StringComparison.Ordinal) ? message : $"{message}; {Hint}")
                + " (strata image ls lists what is here)");
        }
        return new ResolvedImage(prepared.LayerDirs, prepared.Config, prepared.Image.Id.ToString());
    }
}
