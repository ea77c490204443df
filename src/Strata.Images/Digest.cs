using System.Security.Cryptography;
using Strata.Contracts;

namespace Strata.Images;

/// <summary>
/// A content digest, always <c>sha256:&lt;64 lowercase hex&gt;</c>. Other algorithms are refused on purpose:
/// every blob on disk is addressed and verified by sha256, so accepting anything else would mean
/// storing content we cannot check.
/// </summary>
public readonly record struct Digest
{
    public const string Sha256Prefix = "sha256:";

    private Digest(string hex) => Hex = hex;

    /// <summary>The 64 lowercase hex characters.</summary>
    public string Hex { get; }

    public string Algorithm => "sha256";

    public override string ToString() => Sha256Prefix + Hex;

    /// <summary>The first 12 hex characters, as image IDs are usually shown.</summary>
    public string Short => Hex[..12];

    public static Digest Parse(string text, string field = "digest") =>
        TryParse(text, out var digest, out var why) ? digest : throw StrataException.Invalid(field, why!);

    public static bool TryParse(string? text, out Digest digest) => TryParse(text, out digest, out _);

    public static bool TryParse(string? text, out Digest digest, out string? error)
    {
        digest = default;
        if (string.IsNullOrEmpty(text))
        {
            error = "a digest is required (sha256:<64 hex>)";
            return false;
        }
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            error = $"'{text}' is not a digest; expected sha256:<64 lowercase hex>";
            return false;
        }
        var algorithm = text[..colon];
        if (algorithm != "sha256")
        {
            error = $"digest algorithm '{algorithm}' is not supported; only sha256 is";
            return false;
        }
        var hex = text[(colon + 1)..];
        if (!IsHex64(hex))
        {
            error = $"'{text}' is not a valid sha256 digest; expected 64 lowercase hex characters after 'sha256:'";
            return false;
        }
        digest = new Digest(hex);
        error = null;
        return true;
    }

    /// <summary>Builds a digest from the 64-hex part alone (as used in file names).</summary>
    public static bool TryFromHex(string hex, out Digest digest)
    {
        digest = IsHex64(hex) ? new Digest(hex) : default;
        return digest.Hex is not null;
    }

    public static Digest FromHash(ReadOnlySpan<byte> sha256) => new(Convert.ToHexStringLower(sha256));

    public static Digest Compute(ReadOnlySpan<byte> content) => FromHash(SHA256.HashData(content));

    public static async Task<Digest> ComputeAsync(Stream content, CancellationToken ct = default) =>
        FromHash(await SHA256.HashDataAsync(content, ct).ConfigureAwait(false));

    internal static bool IsHex64(string hex)
    {
        if (hex.Length != 64)
        {
            return false;
        }
        foreach (var c in hex)
        {
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f')))
            {
                return false;
            }
        }
        return true;
    }
}
