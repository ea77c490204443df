using Strata.Contracts;

namespace Strata.Node.Images;

/// <summary>
/// Treats a directory as a single-layer image with <see cref="DefaultConfig"/>: <c>dir:/abs/path</c>,
/// or a name from a configured map (<c>busybox</c> → a rootfs directory). Lets the container tier run
/// before (and beside) the real image store.
/// </summary>
public sealed class DirectoryImageResolver : IImageResolver
{
    public const string Prefix = "dir:";

    /// <summary>What a bare root filesystem gets: a shell and a standard PATH.</summary>
    public static ImageConfig DefaultConfig { get; } = new()
    {
        Cmd = ["sh"],
        Env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    };

    private readonly IReadOnlyDictionary<string, string> _named;

    public DirectoryImageResolver(IReadOnlyDictionary<string, string>? named = null)
    {
        _named = named ?? new Dictionary<string, string>();
    }

    public Task<ResolvedImage> ResolveAsync(string reference, CancellationToken cancellationToken)
    {
        string? path = reference.StartsWith(Prefix, StringComparison.Ordinal) ? reference[Prefix.Length..]
            : _named.GetValueOrDefault(reference);
        if (path is null || !Path.IsPathRooted(path) || !Directory.Exists(path))
        {
            throw ImageErrors.NotFound(reference);
        }
        var full = Path.GetFullPath(path);
        return Task.FromResult(new ResolvedImage([full], DefaultConfig, "dir:" + full));
    }
}

/// <summary>Tries resolvers in order; the first that knows the image wins.</summary>
public sealed class ChainedImageResolver(params IImageResolver[] resolvers) : IImageResolver
{
    public async Task<ResolvedImage> ResolveAsync(string reference, CancellationToken cancellationToken)
    {
        Strata.Contracts.StrataException? last = null;
        foreach (var resolver in resolvers)
        {
            try
            {
                return await resolver.ResolveAsync(reference, cancellationToken).ConfigureAwait(false);
            }
            catch (Strata.Contracts.StrataException e) when (e.Kind == Strata.Contracts.ErrorKind.InvalidArgument && e.Field == "image")
            {
                last = e;
            }
        }
        throw last ?? ImageErrors.NotFound(reference);
    }
}
