using System.Text.RegularExpressions;
using Strata.Contracts;

namespace Strata.Images;

/// <summary>
/// A normalised image reference, following docker's rules: a first component with a '.' or ':' or equal to
/// <c>localhost</c> is a registry, otherwise the registry is <c>docker.io</c>; single-component names on
/// docker.io get <c>library/</c>; no tag and no digest means <c>:latest</c>.
/// </summary>
public sealed partial record ImageReference
{
    public const string DefaultRegistry = "docker.io";
    public const string DefaultTag = "latest";

    private ImageReference(string registry, string repository, string? tag, Digest? digest)
    {
        Registry = registry;
        Repository = repository;
        Tag = tag;
        Digest = digest;
    }

    /// <summary>Host[:port], e.g. <c>docker.io</c> or <c>127.0.0.1:5000</c>.</summary>
    public string Registry { get; }

    /// <summary>Path in the registry, e.g. <c>library/busybox</c>.</summary>
    public string Repository { get; }

    /// <summary>The tag; null only when the reference is by digest alone.</summary>
    public string? Tag { get; }

    public Digest? Digest { get; }

    /// <summary>Tag or digest, as used in the registry's manifest URL.</summary>
    public string ManifestReference => Digest?.ToString() ?? Tag!;

    /// <summary>Full name without tag or digest, e.g. <c>docker.io/library/busybox</c>.</summary>
    public string Name => $"{Registry}/{Repository}";

    public override string ToString() =>
        Name + (Tag is null ? "" : ":" + Tag) + (Digest is null ? "" : "@" + Digest);

    /// <summary>The short form people type: <c>busybox:latest</c>, <c>127.0.0.1:5000/foo/bar:tag</c>.</summary>
    public string FamiliarName
    {
        get
        {
            var name = Registry == DefaultRegistry
                ? (Repository.StartsWith("library/", StringComparison.Ordinal) ? Repository["library/".Length..] : Repository)
                : Name;
            return name + (Tag is null ? "" : ":" + Tag) + (Digest is null ? "" : "@" + Digest);
        }
    }

    public ImageReference WithTag(string tag) => new(Registry, Repository, tag, null);

    public ImageReference WithDigest(Digest digest) => new(Registry, Repository, null, digest);

    public static ImageReference Parse(string text, string field = "image") =>
        TryParse(text, out var reference, out var error) ? reference! : throw StrataException.Invalid(field, error!);

    public static bool TryParse(string? text, out ImageReference? reference, out string? error)
    {
        reference = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "an image reference is required, e.g. busybox:latest";
            return false;
        }
        if (text.Length > 4096 || text.Trim() != text)
        {
            error = $"'{text}' is not a valid image reference";
            return false;
        }

        var rest = text;
        Digest? digest = null;
        var at = rest.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            if (!Images.Digest.TryParse(rest[(at + 1)..], out var d, out var digestError))
            {
                error = $"'{text}': {digestError}";
                return false;
            }
            digest = d;
            rest = rest[..at];
        }

        string? tag = null;
        var lastSlash = rest.LastIndexOf('/');
        var lastColon = rest.LastIndexOf(':');
        if (lastColon > lastSlash)
        {
            tag = rest[(lastColon + 1)..];
            rest = rest[..lastColon];
            if (!TagPattern().IsMatch(tag))
            {
                error = $"'{text}': tag '{tag}' is invalid (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')";
                return false;
            }
        }

        string registry;
        string repository;
        var firstSlash = rest.IndexOf('/', StringComparison.Ordinal);
        var first = firstSlash < 0 ? rest : rest[..firstSlash];
        if (firstSlash > 0 && (first.Contains('.', StringComparison.Ordinal) || first.Contains(':', StringComparison.Ordinal) || first == "localhost"))
        {
            registry = first;
            repository = rest[(firstSlash + 1)..];
        }
        else
        {
            registry = DefaultRegistry;
            repository = rest;
        }
        if (registry is "index.docker.io" or "registry-1.docker.io")
        {
            registry = DefaultRegistry;
        }
        if (registry == DefaultRegistry && !repository.Contains('/', StringComparison.Ordinal))
        {
            repository = "library/" + repository;
        }
        if (!RegistryPattern().IsMatch(registry))
        {
            error = $"'{text}': registry '{registry}' is not a valid host[:port]";
            return false;
        }
        if (repository.Length == 0 || repository.Length > 255 || !RepositoryPattern().IsMatch(repository))
        {
            error = $"'{text}': repository '{repository}' is invalid (lowercase letters, digits and separators '.', '_', '__', '-', '/')";
            return false;
        }
        if (tag is null && digest is null)
        {
            tag = DefaultTag;
        }
        reference = new ImageReference(registry, repository, tag, digest);
        error = null;
        return true;
    }

    [GeneratedRegex(@"^[\w][\w.-]{0,127}$")]
    private static partial Regex TagPattern();

    [GeneratedRegex(@"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")]
    private static partial Regex RepositoryPattern();

    [GeneratedRegex(@"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$")]
    private static partial Regex RegistryPattern();
}
