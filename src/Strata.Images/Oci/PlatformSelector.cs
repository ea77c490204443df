using System.Runtime.InteropServices;

namespace Strata.Images.Oci;

/// <summary>Picks the manifest for one platform out of a multi-arch index.</summary>
public static class PlatformSelector
{
    /// <summary>The host's platform in OCI terms (<c>linux/amd64</c>, <c>linux/arm64/v8</c>, ...).</summary>
    public static Platform Host { get; } = new()
    {
        Os = "linux",
        Architecture = GoArch(RuntimeInformation.OSArchitecture),
        Variant = RuntimeInformation.OSArchitecture switch
        {
            Architecture.Arm64 => "v8",
            Architecture.Arm => "v7",
            _ => null,
        },
    };

    public static string GoArch(Architecture architecture) => architecture switch
    {
        Architecture.X64 => "amd64",
        Architecture.X86 => "386",
        Architecture.Arm64 => "arm64",
        Architecture.Arm => "arm",
        Architecture.Ppc64le => "ppc64le",
        Architecture.S390x => "s390x",
        Architecture.RiscV64 => "riscv64",
        Architecture.LoongArch64 => "loong64",
        _ => architecture.ToString().ToLowerInvariant(),
    };

    /// <summary>
    /// The best manifest for <paramref name="wanted"/>: same os and architecture; among those an exact variant
    /// match wins, then an entry without variant. Null when nothing matches.
    /// </summary>
    public static Descriptor? Select(ImageIndex index, Platform wanted)
    {
        Descriptor? best = null;
        var bestScore = -1;
        foreach (var candidate in index.Manifests)
        {
            if (!MediaTypes.IsManifest(candidate.MediaType) && candidate.MediaType.Length != 0)
            {
                continue;
            }
            var p = candidate.Platform;
            if (p is null || p.Os != wanted.Os || p.Architecture != wanted.Architecture)
            {
                continue;
            }
            var score = p.Variant == wanted.Variant ? 2 : p.Variant is null ? 1 : 0;
            // arm64 without a variant means v8, so both spellings are an exact match.
            if (wanted.Architecture == "arm64" && (p.Variant ?? "v8") == (wanted.Variant ?? "v8"))
            {
                score = 2;
            }
            if (score == 0)
            {
                continue;
            }
            if (score > bestScore)
            {
                best = candidate;
                bestScore = score;
            }
        }
        return best;
    }
}
