using Strata.Contracts;
using Strata.Images;
using Strata.Node.Drivers.Wasm;

namespace Strata.Daemon.Images;

/// <summary>
/// Serves the wasm tier's modules from OCI artifacts in the image store (a manifest whose layer has media type
/// <c>application/wasm</c>), pulled from a registry or imported. The blob is verified against its digest first.
/// </summary>
public sealed class ImageStoreWasmSource(ImageStore store) : IWasmModuleSource
{
    public async ValueTask<WasmModuleFile?> ResolveAsync(string image, CancellationToken cancellationToken)
    {
        if (Path.IsPathRooted(image))
        {
            return null; // a file on the host, never an image reference: leave it to the file source
        }
        ImageDetails details;
        try
        {
            details = store.Inspect(image);
        }
        catch (StrataException e) when (e.Kind is ErrorKind.NotFound or ErrorKind.InvalidArgument)
        {
            return null; // not an image of the store: maybe a file
        }
        if (details.Image.Kind != ImageKind.Wasm)
        {
            throw StrataException.Invalid("image", $"image '{image}' is a root filesystem, not a Wasm artifact; run it on the container tier, or give a .wasm module");
        }
        var path = await store.GetWasmModulePathAsync(image, cancellationToken).ConfigureAwait(false);
        return new WasmModuleFile(path, IsText: false);
    }
}
