using Strata.Contracts;
using Strata.Qemu;
using Strata.Images;
using Strata.Qemu.Guest;

namespace Strata.Node.Drivers.Vm;

/// <summary>
/// Turns an OCI image into the read-only ext4 base disk of its VMs: the layers merged in order (whiteouts applied),
/// then <c>mkfs.ext4 -d</c>, cached per image id so every VM of one image shares one base.
/// </summary>
internal sealed class VmRootDisk(string cacheDirectory)
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    public async Task<string> EnsureAsync(PreparedRootfs rootfs, CancellationToken cancellationToken)
    {
        var key = "image-" + rootfs.Image.Id.Hex;
        var builder = new DiskBuilder(cacheDirectory);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var cached = Path.Combine(cacheDirectory, key + ".ext4");
            if (File.Exists(cached))
            {
                return cached;
            }
            if (rootfs.LayerDirs.Count == 1)
            {
                return await builder.BuildExt4Async(rootfs.LayerDirs[0], key, null, cancellationToken).ConfigureAwait(false);
            }
            var merged = Path.Combine(cacheDirectory, $"merge-{key}-{Environment.ProcessId}");
            try
            {
                TryDelete(merged);
                Directory.CreateDirectory(merged);
                foreach (var layer in rootfs.LayerDirs)
                {
                    await ApplyLayerAsync(layer, merged, cancellationToken).ConfigureAwait(false);
                }
                return await builder.BuildExt4Async(merged, key, null, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                TryDelete(merged);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// One layer onto the merged tree. The image store unpacks whiteouts as overlayfs expects them (a 0/0 character
    /// device): each one deletes its path below, and is not copied itself. Opaque directories are not honoured (see docs/vm.md).
    /// </summary>
    private static async Task ApplyLayerAsync(string layer, string merged, CancellationToken cancellationToken)
    {
        var find = await ExternalTool.RunAsync("find", [layer, "-type", "c", "-printf", "%P\\0"], "findutils", cancellationToken).ConfigureAwait(false);
        var whiteouts = find.Stdout.Split('\0', StringSplitOptions.RemoveEmptyEntries);
        foreach (var relative in whiteouts)
        {
            TryDelete(Path.Combine(merged, relative));
        }
        var copy = await ExternalTool.RunAsync("cp", ["-a", "--reflink=auto", layer + "/.", merged], "coreutils", cancellationToken).ConfigureAwait(false);
        if (copy.ExitCode != 0)
        {
            throw new StrataException(ErrorKind.Internal, $"merging image layer {layer} failed: {copy.Stderr.Trim()}");
        }
        foreach (var relative in whiteouts)
        {
            File.Delete(Path.Combine(merged, relative));
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path) && new DirectoryInfo(path).LinkTarget is null)
            {
                Directory.Delete(path, recursive: true);
            }
            else
            {
                File.Delete(path);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
