using Strata.Contracts;

namespace Strata.Node.Images;

/// <summary>
/// How the container tier gets a root filesystem for an image reference. The image store implements it;
/// <see cref="DirectoryImageResolver"/> serves plain directories until then.
/// </summary>
public interface IImageResolver
{
    /// <summary>
    /// The unpacked layers and config of <paramref name="reference"/>. Throws <see cref="StrataException"/>
    /// (InvalidArgument, field <c>image</c>) when the image is unknown.
    /// </summary>
    Task<ResolvedImage> ResolveAsync(string reference, CancellationToken cancellationToken);
}

/// <summary>An image ready to run: its layer directories (lowest first) and its runtime config.</summary>
public sealed record ResolvedImage(IReadOnlyList<string> LayerDirectories, ImageConfig Config, string Digest);

public static class ImageErrors
{
    public static StrataException NotFound(string reference) =>
        StrataException.Invalid("image", $"image '{reference}' not found; pull or import it first (strata image ls)");
}
