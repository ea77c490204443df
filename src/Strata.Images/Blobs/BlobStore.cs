using System.Security.Cryptography;
using Strata.Contracts;
using Strata.Contracts.Host;

namespace Strata.Images.Blobs;

/// <summary>
/// Content-addressed blobs under <c>&lt;root&gt;/blobs/sha256/&lt;hex&gt;</c>. A blob only appears under its name
/// after its bytes were hashed, matched the expected digest and were fsynced (write to a temp file, verify,
/// fsync, rename), so a crash or a bad download never leaves a partial blob under a real name.
/// </summary>
public sealed class BlobStore
{
    private readonly string _dir;
    private readonly string _tmpDir;

    public BlobStore(string root)
    {
        _dir = Path.Combine(root, "blobs", "sha256");
        _tmpDir = Path.Combine(root, "blobs", ".tmp");
        PrivatePaths.CreateDirectory(_dir);
        PrivatePaths.CreateDirectory(_tmpDir);
    }

    public string PathOf(Digest digest) => Path.Combine(_dir, digest.Hex);

    public bool Exists(Digest digest) => File.Exists(PathOf(digest));

    public long SizeOf(Digest digest) => new FileInfo(PathOf(digest)).Length;

    public Stream OpenRead(Digest digest)
    {
        try
        {
            return new FileStream(PathOf(digest), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (FileNotFoundException)
        {
            throw StrataException.NotFound($"blob {digest} is not in the image store; pull the image again");
        }
    }

    public byte[] ReadAllBytes(Digest digest)
    {
        try
        {
            return File.ReadAllBytes(PathOf(digest));
        }
        catch (FileNotFoundException)
        {
            throw StrataException.NotFound($"blob {digest} is not in the image store; pull the image again");
        }
    }

    /// <summary>
    /// Streams <paramref name="content"/> into the store. When <paramref name="expected"/> is given the bytes
    /// must hash to it (and match <paramref name="expectedSize"/> when known), otherwise nothing is kept. With a
    /// <paramref name="revert"/>, a blob this write adds (not one the store already had) is removed again when the
    /// operation it belongs to fails.
    /// </summary>
    public async Task<(Digest Digest, long Size)> WriteAsync(Stream content, Digest? expected = null, long? expectedSize = null,
        Action<long>? progress = null, CancellationToken ct = default, Revert? revert = null)
    {
        var tmp = Path.Combine(_tmpDir, Guid.NewGuid().ToString("N"));
        try
        {
            Digest actual;
            long size = 0;
            await using (var file = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            {
                var buffer = new byte[1 << 16];
                int n;
                while ((n = await content.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                {
                    size += n;
                    if (expectedSize is { } max && size > max)
                    {
                        throw new StrataException(ErrorKind.InvalidArgument,
                            $"blob {expected} is larger than the {max} bytes its descriptor announced; refusing it");
                    }
                    hash.AppendData(buffer, 0, n);
                    await file.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                    progress?.Invoke(size);
                }
                await file.FlushAsync(ct).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
                actual = Digest.FromHash(hash.GetHashAndReset());
            }
            if (expected is { } want && want != actual)
            {
                throw new StrataException(ErrorKind.InvalidArgument,
                    $"content for {want} does not match its digest (got {actual}, {size} bytes); it was refused and not stored");
            }
            if (expectedSize is { } exact && exact != size)
            {
                throw new StrataException(ErrorKind.InvalidArgument,
                    $"blob {actual} has {size} bytes but its descriptor announced {exact}; it was refused and not stored");
            }
            if (revert is not null && !Exists(actual))
            {
                revert.Add(() => Delete(actual));
            }
            File.Move(tmp, PathOf(actual), overwrite: true);
            return (actual, size);
        }
        catch (IOException e) when (DiskFull.Is(e))
        {
            throw DiskFull.Exception("storing a blob", _dir, e);
        }
        finally
        {
            TryDelete(tmp);
        }
    }

    public Task<(Digest Digest, long Size)> WriteAsync(byte[] content, CancellationToken ct = default, Revert? revert = null) =>
        WriteAsync(new MemoryStream(content, writable: false), Digest.Compute(content), content.Length, null, ct, revert);

    /// <summary>Re-hashes a stored blob. Returns false when it is missing or its bytes no longer match.</summary>
    public async Task<bool> IsIntactAsync(Digest digest, CancellationToken ct = default)
    {
        if (!Exists(digest))
        {
            return false;
        }
        await using var stream = OpenRead(digest);
        return await Digest.ComputeAsync(stream, ct).ConfigureAwait(false) == digest;
    }

    /// <summary>Throws a clear error naming the digest when the stored blob is missing or corrupted.</summary>
    public async Task VerifyAsync(Digest digest, CancellationToken ct = default)
    {
        if (!Exists(digest))
        {
            throw StrataException.NotFound($"blob {digest} is missing from the image store; pull the image again");
        }
        if (!await IsIntactAsync(digest, ct).ConfigureAwait(false))
        {
            throw new StrataException(ErrorKind.Internal,
                $"blob {digest} is corrupted (its bytes no longer hash to its digest); it is refused — pull the image again to re-fetch it");
        }
    }

    public void Delete(Digest digest) => TryDelete(PathOf(digest));

    public IEnumerable<Digest> List()
    {
        foreach (var file in Directory.EnumerateFiles(_dir))
        {
            if (Digest.TryFromHex(Path.GetFileName(file), out var d))
            {
                yield return d;
            }
        }
    }

    /// <summary>Removes temp files left behind by a crash.</summary>
    public void CleanTemp()
    {
        foreach (var file in Directory.EnumerateFiles(_tmpDir))
        {
            TryDelete(file);
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

/// <summary>Recognises "no space left on device" and turns it into a clear error.</summary>
internal static class DiskFull
{
    private const int Enospc = 28;
    private const int Edquot = 122;

    public static bool Is(Exception e) =>
        e is IOException io && (io.HResult is Enospc or Edquot || (io.HResult & 0xFFFF) is 112 or 39
            || io.Message.Contains("No space left on device", StringComparison.OrdinalIgnoreCase)
            || io.Message.Contains("Disk quota exceeded", StringComparison.OrdinalIgnoreCase));

    public static StrataException Exception(string doing, string where, Exception inner) =>
        new(ErrorKind.Unavailable,
            $"no space left on device while {doing} under {where}; partial files were removed — free some space (or run image garbage collection) and try again",
            inner: inner);
}
