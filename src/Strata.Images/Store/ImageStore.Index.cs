using System.Text.Json;
using Strata.Contracts;
using Strata.Contracts.Host;
using Strata.Images.Blobs;
using Strata.Images.Oci;

namespace Strata.Images;

/// <summary>The names file (<c>images.json</c>): finding a name, resolving a reference, and atomic updates.</summary>
public sealed partial class ImageStore
{
    private static string Familiar(string reference) => ImageReference.Parse(reference).FamiliarName;

    private static ImageRecord? FindByName(ImageIndexFile index, string reference)
    {
        if (!ImageReference.TryParse(reference, out var parsed, out _))
        {
            return null;
        }
        var full = parsed!.ToString();
        return index.Images.FirstOrDefault(r => r.Reference == full);
    }

    /// <summary>By name first; else by image ID or manifest digest (full, or a unique hex prefix of 4+).</summary>
    private ImageRecord Resolve(string reference)
    {
        var index = ReadIndex();
        if (FindByName(index, reference) is { } byName)
        {
            return byName;
        }
        var hex = reference.StartsWith(Digest.Sha256Prefix, StringComparison.Ordinal) ? reference[Digest.Sha256Prefix.Length..] : reference;
        if (hex.Length >= 4 && hex.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f')))
        {
            var matches = index.Images
                .Where(r => { var i = ToInfo(r); return i.Id.Hex.StartsWith(hex, StringComparison.Ordinal) || i.ManifestDigest.Hex.StartsWith(hex, StringComparison.Ordinal); })
                .ToList();
            if (matches.Select(m => m.Manifest).Distinct().Count() > 1)
            {
                throw StrataException.Invalid("image", $"'{reference}' matches more than one image; use more characters of the ID");
            }
            if (matches.Count > 0)
            {
                return matches[0];
            }
        }
        ImageReference.Parse(reference);
        throw StrataException.NotFound($"image {reference} is not in the store; pull, import or build it first");
    }

    private static void Upsert(ImageIndexFile index, ImageRecord record)
    {
        index.Images.RemoveAll(r => r.Reference == record.Reference);
        index.Images.Add(record);
    }

    private ImageIndexFile ReadIndex()
    {
        if (!File.Exists(_indexPath))
        {
            return new ImageIndexFile();
        }
        var index = JsonSerializer.Deserialize(File.ReadAllBytes(_indexPath), StoreJsonContext.Default.ImageIndexFile) ?? new ImageIndexFile();
        if (index.Version != ImageIndexFile.CurrentVersion)
        {
            throw new StrataException(ErrorKind.Internal,
                $"{_indexPath} has format version {index.Version}; this Strata reads version {ImageIndexFile.CurrentVersion} — upgrade Strata");
        }
        return index;
    }

    /// <summary>Read-modify-write with temp file + fsync + rename, so readers see the old or the new list, never half.</summary>
    private void UpdateIndex(Action<ImageIndexFile> change)
    {
        var index = ReadIndex();
        change(index);
        index.Images.Sort((a, b) => string.CompareOrdinal(a.Reference, b.Reference));
        var tmp = _indexPath + ".tmp";
        try
        {
            using (var file = new FileStream(tmp, PrivatePaths.NewFile()))
            {
                JsonSerializer.Serialize(file, index, StoreJsonContext.Default.ImageIndexFile);
                file.Flush(flushToDisk: true);
            }
            File.Move(tmp, _indexPath, overwrite: true);
        }
        catch (IOException e) when (DiskFull.Is(e))
        {
            File.Delete(tmp);
            throw DiskFull.Exception("writing the image list", _root, e);
        }
    }
}
