using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using Strata.Contracts;
using Strata.Images.Layers;
using Strata.Images.Oci;
using Strata.Images.Registry;
using Strata.Testing;
using Xunit;

namespace Strata.Images.Tests;

/// <summary>
/// Decompression bombs: a small archive that expands to far more than it says. Limits are set low here so the test
/// data stays small (a 64 MiB file of zeros is ~65 KB gzipped); the defaults are 32 GiB, 100× and 1 GiB free.
/// </summary>
public sealed class DecompressionBombTests : IDisposable
{
    private const long BombBytes = 64L << 20;
    private readonly TempDir _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Layer_ExpandingPastTheSizeLimit_StopsWithAnErrorNamingTheLimit()
    {
        var (bomb, _) = GzipBomb(BombBytes);
        var target = _temp.Sub("layer");
        var e = Assert.Throws<StrataException>(() => LayerUnpacker.Unpack(new MemoryStream(bomb), target, "bomb", limits: new UnpackLimits
        {
            MaxBytes = 8L << 20, RatioFloorBytes = long.MaxValue, MinFreeBytes = 0,
        }));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Contains("--unpack-max-size", e.Message, StringComparison.Ordinal);
        Assert.Contains("8 MiB", e.Message, StringComparison.Ordinal);
        // Stopped near the limit, not after writing the whole bomb.
        Assert.True(DirectorySize(target) <= 9L << 20, $"{DirectorySize(target)} bytes were written");
    }

    [Fact]
    public void Layer_ExpandingPastTheRatio_StopsWithAnErrorNamingTheLimit()
    {
        var (bomb, _) = GzipBomb(BombBytes);
        var e = Assert.Throws<StrataException>(() => LayerUnpacker.Unpack(new MemoryStream(bomb), _temp.Sub("layer"), "bomb", limits: new UnpackLimits
        {
            MaxRatio = 50, RatioFloorBytes = 1L << 20, MinFreeBytes = 0,
        }));
        Assert.Contains("--unpack-max-ratio", e.Message, StringComparison.Ordinal);
        Assert.Contains("decompression bomb", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Layer_OrdinaryAndWithinTheLimits_Unpacks()
    {
        var (bomb, diffId) = GzipBomb(4L << 20);
        var result = LayerUnpacker.Unpack(new MemoryStream(bomb), _temp.Sub("layer"), "small", limits: new UnpackLimits
        {
            MaxBytes = 8L << 20, MaxRatio = 50, RatioFloorBytes = 16L << 20, MinFreeBytes = 0,
        });
        Assert.Equal(diffId, result.DiffId);
    }

    [Fact]
    public async Task ImportedImage_WithABombLayer_IsRefusedAndLeavesNothing()
    {
        var store = new ImageStore(_temp.Sub("root")) { UnpackLimits = new UnpackLimits { MaxBytes = 8L << 20, MinFreeBytes = 0 } };
        var (bomb, diffId) = GzipBomb(BombBytes);
        var path = Path.Combine(_temp.Path, "bomb.tar");
        ArchiveBuilder.OciLayout(path, ArchiveBuilder.ConfigJson("amd64", [diffId]), [(bomb, MediaTypes.OciLayerGzip)], "bomb:1");

        var e = await Assert.ThrowsAsync<StrataException>(() => store.ImportArchiveAsync(path));
        Assert.Contains("--unpack-max-size", e.Message, StringComparison.Ordinal);
        Assert.Contains("nothing was kept", e.Message, StringComparison.Ordinal);
        Assert.Empty(store.List());
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(store.Root, "layers")));
    }

    [SkippableFact]
    public async Task PulledImage_WithABombLayer_IsRefusedAndLeavesNothing()
    {
        using var registry = new RealRegistry();
        var (bomb, diffId) = GzipBomb(BombBytes);
        var path = Path.Combine(_temp.Path, "bomb.tar");
        ArchiveBuilder.OciLayout(path, ArchiveBuilder.ConfigJson("amd64", [diffId]), [(bomb, MediaTypes.OciLayerGzip)], "bomb:1");
        // The registry's side holds the image (64 MiB is within the default limits); the pulling store's limit is 8 MiB.
        var source = new ImageStore(_temp.Sub("source")) { UnpackLimits = new UnpackLimits { MinFreeBytes = 0 } };
        await source.ImportArchiveAsync(path);
        var remote = $"{registry.Host}/strata/bomb:1";
        await source.PushAsync("bomb:1", remote, new RegistryOptions { InsecureRegistries = [registry.Host] });

        var store = new ImageStore(_temp.Sub("root")) { UnpackLimits = new UnpackLimits { MaxBytes = 8L << 20, MinFreeBytes = 0 } };
        var e = await Assert.ThrowsAsync<StrataException>(() => store.PullAsync(remote, new RegistryOptions { InsecureRegistries = [registry.Host] }));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Contains("--unpack-max-size", e.Message, StringComparison.Ordinal);
        Assert.Empty(store.List());
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(store.Root, "layers")));
    }

    [Fact]
    public async Task ImportedArchive_ThatIsItselfABomb_IsRefusedAndLeavesNoBlobs()
    {
        var store = new ImageStore(_temp.Sub("root")) { UnpackLimits = new UnpackLimits { MaxBytes = 8L << 20, MinFreeBytes = 0 } };
        // A docker-save archive with a plain (uncompressed) 64 MiB layer, gzipped as a whole.
        var plain = Path.Combine(_temp.Path, "save.tar");
        using (var file = File.Create(plain))
        using (var writer = new TarWriter(file, TarEntryFormat.Pax))
        {
            var layer = new PaxTarEntry(TarEntryType.RegularFile, "abc/layer.tar") { DataStream = new ZeroStream(BombBytes) };
            writer.WriteEntry(layer);
        }
        var gz = plain + ".gz";
        using (var input = File.OpenRead(plain))
        using (var output = new GZipStream(File.Create(gz), CompressionLevel.SmallestSize))
        {
            input.CopyTo(output);
        }
        File.Delete(plain);

        var e = await Assert.ThrowsAsync<StrataException>(() => store.ImportArchiveAsync(gz));
        Assert.Contains("--unpack-max-size", e.Message, StringComparison.Ordinal);
        Assert.Empty(store.Blobs.List());
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(store.Root, "blobs"), "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Import_WithoutTheFreeSpaceToKeep_IsRefusedBeforeWritingAndSaysHowToChangeIt()
    {
        var store = new ImageStore(_temp.Sub("root")) { UnpackLimits = new UnpackLimits { MinFreeBytes = long.MaxValue / 4 } };
        var (bomb, diffId) = GzipBomb(1L << 20);
        var path = Path.Combine(_temp.Path, "small.tar");
        ArchiveBuilder.OciLayout(path, ArchiveBuilder.ConfigJson("amd64", [diffId]), [(bomb, MediaTypes.OciLayerGzip)], "small:1");

        var e = await Assert.ThrowsAsync<StrataException>(() => store.ImportArchiveAsync(path));
        Assert.Equal(ErrorKind.Unavailable, e.Kind);
        Assert.Contains("--unpack-min-free", e.Message, StringComparison.Ordinal);
        Assert.Empty(store.List());
        Assert.Empty(store.Blobs.List());
    }

    /// <summary>A gzipped layer holding one file of <paramref name="bytes"/> zeros, and its diff_id (the uncompressed tar's digest).</summary>
    private static (byte[] Gzip, Digest DiffId) GzipBomb(long bytes)
    {
        var compressed = new MemoryStream();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using (var gzip = new GZipStream(compressed, CompressionLevel.SmallestSize, leaveOpen: true))
        using (var tee = new HashingWriteStream(gzip, hash))
        using (var writer = new TarWriter(tee, TarEntryFormat.Pax, leaveOpen: true))
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "zeros") { DataStream = new ZeroStream(bytes) });
        }
        return (compressed.ToArray(), Digest.FromHash(hash.GetHashAndReset()));
    }

    private static long DirectorySize(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

    private sealed class HashingWriteStream(Stream inner, IncrementalHash hash) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            hash.AppendData(buffer);
            inner.Write(buffer);
        }
    }

    /// <summary>A seekable stream of zeros (TarWriter needs the length up front).</summary>
    private sealed class ZeroStream(long length) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get; set; }
        public override void Flush() { }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - Position);
            Array.Clear(buffer, offset, n);
            Position += n;
            return n;
        }

        public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => Position + offset,
            _ => length + offset,
        };

        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
