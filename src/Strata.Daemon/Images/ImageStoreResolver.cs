using Strata.Contracts;
using Strata.Images;
using Strata.Node.Images;

namespace Strata.Daemon.Images;

/// <summary>Serves the container tier's root filesystems from the daemon's image store.</summary>
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
        var c = prepared.Config;
        return new ResolvedImage(prepared.LayerDirs, new Strata.Node.Images.ImageConfig
        {
            Entrypoint = c.Entrypoint.Count > 0 ? c.Entrypoint : null,
            Cmd = c.Cmd.Count > 0 ? c.Cmd : null,
            Env = c.Env,
            WorkingDir = string.IsNullOrEmpty(c.WorkingDir) ? null : c.WorkingDir,
            User = string.IsNullOrEmpty(c.User) ? null : c.User,
        }, prepared.Image.Id.ToString());
    }
}
