using Strata.Images.Layers;

namespace Strata.Images;

public sealed partial class ImageStore
{
    /// <summary>What one layer or imported archive may expand to (a decompression bomb stops with a clear error).</summary>
    public UnpackLimits UnpackLimits { get; init; } = UnpackLimits.Default;

    /// <summary>
    /// <paramref name="decompressed"/> bounded by <see cref="UnpackLimits"/>: checks the free space under
    /// <paramref name="directory"/> for the compressed size first, then every limit while it is read.
    /// </summary>
    private BoundedDecompressionStream BoundedUnpack(Stream decompressed, Stream compressed, string what, string directory)
    {
        Directory.CreateDirectory(directory);
        UnpackLimits.CheckFreeSpace(directory, compressed.CanSeek ? compressed.Length : 0, what);
        return new BoundedDecompressionStream(decompressed, compressed, UnpackLimits, what, directory);
    }
}
