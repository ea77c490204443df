using System.Globalization;
using Strata.Contracts;

namespace Strata.Images.Layers;

/// <summary>
/// Bounds on what one compressed archive (an image layer, or an imported archive) may expand to, so a small
/// decompression bomb cannot fill the disk: an absolute size, a ratio to the compressed size (checked once the
/// output passes <see cref="RatioFloorBytes"/>, so small, very compressible layers stay fine) and space that must
/// stay free on the file system written to, checked before and while writing. Set with stratad's
/// <c>--unpack-max-size</c>, <c>--unpack-max-ratio</c> and <c>--unpack-min-free</c> (docs/daemon-behavior.md).
/// </summary>
public sealed record UnpackLimits
{
    public static UnpackLimits Default { get; } = new();

    /// <summary>Most bytes one archive may expand to (the uncompressed tar stream). Default 32 GiB.</summary>
    public long MaxBytes { get; init; } = 32L << 30;

    /// <summary>Most uncompressed bytes per compressed byte. Default 100 (ordinary layers compress 2–10×).</summary>
    public long MaxRatio { get; init; } = 100;

    /// <summary>The ratio is enforced only above this many uncompressed bytes. Default 256 MiB.</summary>
    public long RatioFloorBytes { get; init; } = 256L << 20;

    /// <summary>Space that must remain free where the archive is unpacked. Default 1 GiB.</summary>
    public long MinFreeBytes { get; init; } = 1L << 30;

    /// <summary>How often (in uncompressed bytes) free space is measured while unpacking.</summary>
    public long FreeSpaceCheckInterval { get; init; } = 64L << 20;

    /// <summary>Refuses to start when the file system holding <paramref name="directory"/> lacks room for <paramref name="compressedBytes"/> and the reserve.</summary>
    public void CheckFreeSpace(string directory, long compressedBytes, string what)
    {
        var free = FreeBytes(directory);
        if (free is { } f && f - compressedBytes < MinFreeBytes)
        {
            throw NoRoom(what, directory, f);
        }
    }

    internal StrataException NoRoom(string what, string directory, long free) => new(ErrorKind.Unavailable,
        $"{what}: only {Size(free)} free under {directory}, and unpacking keeps at least {Size(MinFreeBytes)} free " +
        "(stratad --unpack-min-free); nothing was kept — free some space (strata image prune) or lower --unpack-min-free");

    internal StrataException TooLarge(string what, long written) => new(ErrorKind.InvalidArgument,
        $"{what} expands to more than {Size(MaxBytes)} (stopped at {Size(written)}); the limit is stratad --unpack-max-size " +
        "(raise it if the image is really that large); nothing was kept");

    internal StrataException TooCompressed(string what, long written, long compressed) => new(ErrorKind.InvalidArgument,
        $"{what} expands more than {MaxRatio}× ({Size(written)} from {Size(compressed)} compressed), as a decompression bomb does; " +
        "the limit is stratad --unpack-max-ratio (raise it if the image really holds such compressible data); nothing was kept");

    internal static long? FreeBytes(string directory)
    {
        try
        {
            return new DriveInfo(Path.GetFullPath(directory)).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }

    internal static string Size(long bytes) => bytes switch
    {
        >= 1L << 30 when bytes % (1L << 30) == 0 => (bytes >> 30).ToString(CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 30 => (bytes / (double)(1L << 30)).ToString("0.0", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (bytes / (double)(1L << 20)).ToString("0.#", CultureInfo.InvariantCulture) + " MiB",
        >= 1L << 10 => (bytes / (double)(1L << 10)).ToString("0.#", CultureInfo.InvariantCulture) + " KiB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " bytes",
    };
}

/// <summary>
/// A read-only pass-through over a decompressing stream that enforces <see cref="UnpackLimits"/>: it counts what
/// comes out, compares it with what went in (<paramref name="compressed"/>'s position) and measures the free space
/// under <paramref name="directory"/> every <see cref="UnpackLimits.FreeSpaceCheckInterval"/> bytes. It throws
/// before handing out a byte past a limit; the caller removes what was written.
/// </summary>
public sealed class BoundedDecompressionStream(Stream inner, Stream compressed, UnpackLimits limits, string what, string directory) : ReadOnlyStream
{
    private long _read;
    private long _nextSpaceCheck = limits.FreeSpaceCheckInterval;

    public override long Position { get => _read; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = inner.Read(buffer);
        Account(n);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        Account(n);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private void Account(int n)
    {
        _read += n;
        if (_read > limits.MaxBytes)
        {
            throw limits.TooLarge(what, _read);
        }
        if (_read > limits.RatioFloorBytes && CompressedPosition() is { } consumed)
        {
            if (_read / consumed > limits.MaxRatio)
            {
                throw limits.TooCompressed(what, _read, consumed);
            }
        }
        if (_read >= _nextSpaceCheck)
        {
            _nextSpaceCheck = _read + limits.FreeSpaceCheckInterval;
            if (UnpackLimits.FreeBytes(directory) is { } free && free < limits.MinFreeBytes)
            {
                throw limits.NoRoom(what, directory, free);
            }
        }
    }

    /// <summary>Compressed bytes consumed so far; null when the source cannot say (then only the absolute limit applies).</summary>
    private long? CompressedPosition()
    {
        try
        {
            return compressed.CanSeek ? Math.Max(1, compressed.Position) : null;
        }
        catch (Exception e) when (e is NotSupportedException or ObjectDisposedException)
        {
            return null;
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
