using System.Text.Json;
using System.Text.Json.Serialization;
using Strata.Contracts;
using Strata.Contracts.Host;
using Strata.Qemu;

namespace Strata.Node.Drivers.Vm;

/// <summary>A bootable disk image imported for the vm tier.</summary>
public sealed record VmDiskImage
{
    public string Name { get; init; } = "";
    /// <summary><c>raw</c> or <c>qcow2</c>.</summary>
    public string Format { get; init; } = "raw";
    public string Path { get; init; } = "";
    /// <summary>The guest-visible size.</summary>
    public long VirtualSize { get; init; }
    public DateTimeOffset Added { get; init; }
}

/// <summary>
/// Full-OS disk images (<c>strata image import FILE --kind disk NAME</c>), kept beside the OCI store under
/// <c>&lt;images&gt;/disks/</c>: <c>NAME.raw|NAME.qcow2</c> and <c>NAME.json</c> (written last: no record, no image).
/// A VM never writes to them: each instance has a qcow2 overlay on top.
/// </summary>
public sealed class VmDiskImages(string directory)
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    public string Directory { get; } = directory;

    public VmDiskImage? Find(string name)
    {
        if (!IsValidName(name))
        {
            return null;
        }
        var record = System.IO.Path.Combine(Directory, name + ".json");
        try
        {
            var image = JsonSerializer.Deserialize(File.ReadAllBytes(record), VmDiskJsonContext.Default.VmDiskImage);
            return image is not null && File.Exists(image.Path) ? image : null;
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public IReadOnlyList<VmDiskImage> List() =>
        !System.IO.Directory.Exists(Directory) ? []
        : [.. System.IO.Directory.EnumerateFiles(Directory, "*.json").Select(f => Find(System.IO.Path.GetFileNameWithoutExtension(f))).OfType<VmDiskImage>().OrderBy(i => i.Name, StringComparer.Ordinal)];

    /// <summary>
    /// Checks <paramref name="file"/> (format from its content; qcow2 through <c>qemu-img check</c>; raw needs a boot
    /// signature and whole sectors) and copies it in. A bad file is refused with <see cref="ErrorKind.InvalidArgument"/>
    /// and leaves nothing behind.
    /// </summary>
    public async Task<VmDiskImage> ImportAsync(string file, string name, TimeProvider time, CancellationToken cancellationToken)
    {
        if (!IsValidName(name))
        {
            throw StrataException.Invalid("name", $"'{name}' is not a disk image name; use lowercase letters, digits, '.', '_' and '-' (at most 63)");
        }
        if (!File.Exists(file))
        {
            throw StrataException.Invalid("path", $"{file} does not exist");
        }
        var (format, virtualSize) = await InspectAsync(file, cancellationToken).ConfigureAwait(false);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Find(name) is not null)
            {
                throw StrataException.Conflict($"a disk image named '{name}' exists; remove it first ('strata image rm {name}')");
            }
            PrivatePaths.CreateDirectory(Directory);
            var target = System.IO.Path.Combine(Directory, $"{name}.{format}");
            var temp = target + ".tmp";
            try
            {
                var copy = await ExternalTool.RunAsync("cp", ["--sparse=always", "--reflink=auto", file, temp], "coreutils", cancellationToken).ConfigureAwait(false);
                if (copy.ExitCode != 0)
                {
                    throw new StrataException(ErrorKind.Internal, $"copying {file} failed: {copy.Stderr.Trim()}");
                }
                File.Move(temp, target, overwrite: true);
            }
            finally
            {
                File.Delete(temp);
            }
            var image = new VmDiskImage { Name = name, Format = format, Path = target, VirtualSize = virtualSize, Added = time.GetUtcNow() };
            var record = System.IO.Path.Combine(Directory, name + ".json");
            await File.WriteAllBytesAsync(record + ".tmp", JsonSerializer.SerializeToUtf8Bytes(image, VmDiskJsonContext.Default.VmDiskImage), cancellationToken).ConfigureAwait(false);
            File.Move(record + ".tmp", record, overwrite: true);
            return image;
        }
        finally
        {
            _gate.Release();
        }
    }

    public bool Remove(string name)
    {
        if (Find(name) is not { } image)
        {
            return false;
        }
        File.Delete(System.IO.Path.Combine(Directory, name + ".json"));
        File.Delete(image.Path);
        return true;
    }

    internal static async Task<(string Format, long VirtualSize)> InspectAsync(string file, CancellationToken cancellationToken)
    {
        var info = await ExternalTool.RunAsync("qemu-img", ["info", "--output=json", file], "qemu-utils", cancellationToken).ConfigureAwait(false);
        if (info.ExitCode != 0)
        {
            throw StrataException.Invalid("path", $"{file} is not a disk image QEMU can read: {info.Stderr.Trim()}");
        }
        using var json = JsonDocument.Parse(info.Stdout);
        var format = json.RootElement.GetProperty("format").GetString() ?? "";
        var size = json.RootElement.GetProperty("virtual-size").GetInt64();
        if (format == "qcow2")
        {
            if (json.RootElement.TryGetProperty("backing-filename", out _))
            {
                throw StrataException.Invalid("path", $"{file} is a qcow2 overlay with a backing file; import a standalone image ('qemu-img convert -O qcow2 {file} out.qcow2')");
            }
            var check = await ExternalTool.RunAsync("qemu-img", ["check", "-q", file], "qemu-utils", cancellationToken).ConfigureAwait(false);
            if (check.ExitCode != 0)
            {
                throw StrataException.Invalid("path", $"{file} is a corrupt or truncated qcow2 image (qemu-img check: {(check.Stderr + check.Stdout).Trim()})");
            }
        }
        else if (format == "raw")
        {
            if (size < 1024 * 1024 || size % 512 != 0)
            {
                throw StrataException.Invalid("path", $"{file} ({size} bytes) is not a whole disk: a raw disk image is at least 1 MiB of 512-byte sectors; is it truncated?");
            }
            var sector = new byte[512];
            await using (var f = File.OpenRead(file))
            {
                await f.ReadExactlyAsync(sector, cancellationToken).ConfigureAwait(false);
            }
            if (sector[510] != 0x55 || sector[511] != 0xAA)
            {
                throw StrataException.Invalid("path", $"{file} has no boot sector (no MBR/GPT signature); the vm tier boots disks through firmware and their own bootloader");
            }
        }
        else
        {
            throw StrataException.Invalid("path", $"{file} is a {format} image; import raw or qcow2 ('qemu-img convert -O qcow2 {file} out.qcow2')");
        }
        return (format, size);
    }

    private static bool IsValidName(string name) =>
        name.Length is > 0 and <= 63 && (char.IsAsciiLetterLower(name[0]) || char.IsAsciiDigit(name[0]))
        && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '_' or '-');
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(VmDiskImage))]
internal sealed partial class VmDiskJsonContext : JsonSerializerContext;
