namespace Strata.Node.Drivers.Wasm;

/// <summary>
/// Where a module's bytes come from. The wasm driver asks its sources in order; the first that recognises the
/// image reference returns a local file (<c>.wasm</c> binary or <c>.wat</c> text). Files on the host are built
/// in (<see cref="FileModuleSource"/>); the image store plugs in here to serve OCI artifacts whose layer has
/// media type <c>application/wasm</c>: it resolves the reference to the layer's blob path (content-addressed,
/// already verified) and returns it.
/// </summary>
public interface IWasmModuleSource
{
    /// <summary>A local file holding the module, or null when this source does not know <paramref name="image"/>.</summary>
    ValueTask<WasmModuleFile?> ResolveAsync(string image, CancellationToken cancellationToken);
}

/// <param name="Path">Absolute path of the module file.</param>
/// <param name="IsText">True for WebAssembly text (<c>.wat</c>), false for the binary format.</param>
public sealed record WasmModuleFile(string Path, bool IsText);

/// <summary>An absolute path to a <c>.wasm</c> or <c>.wat</c> file on the daemon's host.</summary>
public sealed class FileModuleSource : IWasmModuleSource
{
    public ValueTask<WasmModuleFile?> ResolveAsync(string image, CancellationToken cancellationToken)
    {
        if (!System.IO.Path.IsPathRooted(image))
        {
            return ValueTask.FromResult<WasmModuleFile?>(null);
        }
        var isText = image.EndsWith(".wat", StringComparison.OrdinalIgnoreCase);
        return ValueTask.FromResult<WasmModuleFile?>(new WasmModuleFile(image, isText));
    }

    /// <summary>Does this image reference name a module file (what <c>--tier auto</c> uses to pick wasm)?</summary>
    public static bool LooksLikeModule(string? image) =>
        image is not null && (image.EndsWith(".wasm", StringComparison.OrdinalIgnoreCase) || image.EndsWith(".wat", StringComparison.OrdinalIgnoreCase));
}
