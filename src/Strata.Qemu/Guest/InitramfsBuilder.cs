using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Strata.Contracts;

namespace Strata.Qemu.Guest;

/// <summary>
/// Builds the guest initramfs (gzip'd newc cpio): busybox-static, the kernel modules the guest kernel
/// needs for Strata's devices, and <see cref="GuestInit.Script"/> as <c>/init</c>.
/// Same inputs give the same bytes, and <see cref="EnsureAsync"/> caches by a hash of them.
/// </summary>
public sealed class InitramfsBuilder
{
    public const string BusyboxPackage = "busybox-static";

    /// <summary>Modules without which Strata's guests cannot work (when the kernel builds them as modules).</summary>
    public static readonly IReadOnlyList<string> RequiredModules = ["virtio_mmio", "virtio_pci", "virtio_blk", "virtio_console"];

    /// <summary>Modules loaded when present: vsock, balloon, network, ext4.</summary>
    public static readonly IReadOnlyList<string> OptionalModules =
        ["ext4", "virtio_balloon", "virtio_net", "vmw_vsock_virtio_transport"];

    /// <summary>Loaded by init only when the guest mounts host directories (<see cref="GuestInit.VirtioFsModulesPath"/>).</summary>
    public static readonly IReadOnlyList<string> VirtioFsModules = ["virtiofs"];

    /// <summary>The ACPI power button as an input device, for the graceful stop (<see cref="GuestInit.PowerButtonModulesPath"/>).</summary>
    public static readonly IReadOnlyList<string> PowerButtonModules = ["button", "evdev"];

    private readonly GuestKernelInfo _kernel;
    private readonly string _busybox;

    public InitramfsBuilder(GuestKernelInfo kernel, string busyboxPath = "/bin/busybox")
    {
        _kernel = kernel;
        _busybox = busyboxPath;
    }

    /// <summary>Returns a cached initramfs under <paramref name="cacheDirectory"/>, building it on first use.</summary>
    public async Task<string> EnsureAsync(string cacheDirectory, CancellationToken cancellationToken)
    {
        var plan = Plan();
        var path = Path.Combine(cacheDirectory, $"initramfs-{plan.Key[..16]}.cpio.gz");
        if (File.Exists(path))
        {
            return path;
        }
        Directory.CreateDirectory(cacheDirectory);
        var temp = path + "." + Environment.ProcessId + ".tmp";
        try
        {
            await WriteAsync(plan, temp, cancellationToken).ConfigureAwait(false);
            File.Move(temp, path, overwrite: true); // Atomic: a concurrent builder produced the same bytes.
        }
        finally
        {
            File.Delete(temp);
        }
        return path;
    }

    /// <summary>Writes the initramfs to <paramref name="outputPath"/>.</summary>
    public Task BuildAsync(string outputPath, CancellationToken cancellationToken) => WriteAsync(Plan(), outputPath, cancellationToken);

    /// <summary>The modules, in load order, that init loads at every boot (not the on-demand virtio-fs and power-button ones).</summary>
    public IReadOnlyList<string> ModuleLoadOrder() => Plan().Modules.Where(m => m.Group == BaseGroup).Select(m => m.Name).ToList();

    /// <summary>The modules, in load order, of one on-demand group: <c>modules-virtiofs</c> or <c>modules-power</c>.</summary>
    public IReadOnlyList<string> ModuleLoadOrder(string group) => Plan().Modules.Where(m => m.Group == group).Select(m => m.Name).ToList();

    /// <summary>A module file and the list init loads it from (<c>modules</c>, <c>modules-virtiofs</c> or <c>modules-power</c>).</summary>
    private sealed record ModuleFile(string Name, string Path, string Group = BaseGroup);

    private const string BaseGroup = "modules";

    private sealed record BuildPlan(IReadOnlyList<ModuleFile> Modules, string Key);

    private BuildPlan Plan()
    {
        if (!File.Exists(_busybox))
        {
            throw new StrataException(ErrorKind.Unavailable,
                $"{_busybox} is missing; the guest init needs a static busybox: install it with 'apt-get install {BusyboxPackage}'");
        }
        var modules = ResolveModules();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes($"v{GuestInit.Version}\n{GuestInit.Script}\n{GuestInit.ExecAgentScript}\n{_kernel.Release}\n"));
        hash.AppendData(GuestReseed.Elf());
        hash.AppendData(File.ReadAllBytes(_busybox));
        foreach (var m in modules)
        {
            var info = new FileInfo(m.Path);
            hash.AppendData(Encoding.UTF8.GetBytes($"{m.Group}/{m.Name}:{info.Length}:{info.LastWriteTimeUtc.Ticks}\n"));
        }
        return new BuildPlan(modules, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    private List<ModuleFile> ResolveModules()
    {
        if (_kernel.ModulesDirectory is null)
        {
            return []; // A kernel without modules must have everything built in.
        }
        var depFile = Path.Combine(_kernel.ModulesDirectory, "modules.dep");
        if (!File.Exists(depFile))
        {
            throw new StrataException(ErrorKind.Unavailable, $"{depFile} is missing; reinstall the guest kernel's package ({GuestKernel.Package})");
        }
        var deps = new Dictionary<string, (string Path, string[] Deps)>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(depFile))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }
            var path = line[..colon];
            var rest = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            deps[NameOf(path)] = (path, rest);
        }
        var builtinFile = Path.Combine(_kernel.ModulesDirectory, "modules.builtin");
        var builtin = File.Exists(builtinFile)
            ? File.ReadLines(builtinFile).Select(NameOf).ToHashSet(StringComparer.Ordinal)
            : [];

        var order = new List<ModuleFile>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var group = BaseGroup;
        void Visit(string name)
        {
            if (!seen.Add(name) || !deps.TryGetValue(name, out var entry))
            {
                return;
            }
            foreach (var dep in entry.Deps)
            {
                Visit(NameOf(dep));
            }
            if (!entry.Path.EndsWith(".ko", StringComparison.Ordinal))
            {
                throw new StrataException(ErrorKind.Unavailable,
                    $"kernel module {entry.Path} is compressed; the guest's busybox insmod needs plain .ko files (use a kernel package with uncompressed modules)");
            }
            order.Add(new ModuleFile(name, Path.Combine(_kernel.ModulesDirectory!, entry.Path), group));
        }
        foreach (var name in RequiredModules)
        {
            if (!deps.ContainsKey(name) && !builtin.Contains(name))
            {
                throw new StrataException(ErrorKind.Unavailable,
                    $"guest kernel {_kernel.Release} has no {name} driver (neither built in nor a module); use the {GuestKernel.Package} kernel");
            }
            Visit(name);
        }
        foreach (var name in OptionalModules)
        {
            Visit(name);
        }
        // Dependencies already in the base list are not repeated: init has loaded them by then.
        group = Path.GetFileName(GuestInit.VirtioFsModulesPath);
        foreach (var name in VirtioFsModules)
        {
            Visit(name);
        }
        group = Path.GetFileName(GuestInit.PowerButtonModulesPath);
        foreach (var name in PowerButtonModules)
        {
            Visit(name);
        }
        return order;
    }

    // "kernel/drivers/virtio/virtio_mmio.ko" -> "virtio_mmio"; module names treat '-' and '_' alike.
    private static string NameOf(string path)
    {
        var file = Path.GetFileName(path.Trim());
        var dot = file.IndexOf(".ko", StringComparison.Ordinal);
        return (dot >= 0 ? file[..dot] : file).Replace('-', '_');
    }

    private async Task WriteAsync(BuildPlan plan, string outputPath, CancellationToken cancellationToken)
    {
        await using var file = new FileStream(outputPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        // GZip of an in-memory cpio: the archive is a few MiB, and GZipStream writes no timestamp.
        using var cpioBytes = new MemoryStream();
        var cpio = new CpioWriter(cpioBytes);
        foreach (var dir in new[] { "bin", "dev", "etc", "etc/strata", "lib", "lib/modules", "newroot", "proc", "sbin", "strata", "sys", "tmp", "usr", "usr/bin", "usr/sbin" })
        {
            cpio.AddDirectory(dir);
        }
        cpio.AddFile("bin/busybox", await File.ReadAllBytesAsync(_busybox, cancellationToken).ConfigureAwait(false), 0x1ED);
        cpio.AddSymlink("bin/sh", "busybox");
        cpio.AddFile(GuestReseed.GuestPath, GuestReseed.Elf(), 0x1ED);
        cpio.AddFile("etc/strata/kernel-release", Encoding.UTF8.GetBytes(_kernel.Release + "\n"));
        foreach (var group in new[] { BaseGroup, Path.GetFileName(GuestInit.VirtioFsModulesPath), Path.GetFileName(GuestInit.PowerButtonModulesPath) })
        {
            cpio.AddFile("etc/strata/" + group, Encoding.UTF8.GetBytes(string.Join('\n', plan.Modules.Where(m => m.Group == group).Select(m => m.Name)) + "\n"));
        }
        foreach (var m in plan.Modules)
        {
            cpio.AddFile($"lib/modules/{m.Name}.ko", await File.ReadAllBytesAsync(m.Path, cancellationToken).ConfigureAwait(false));
        }
        cpio.AddFile(GuestInit.ExecAgentPath, Encoding.UTF8.GetBytes(GuestInit.ExecAgentScript.Replace("\r\n", "\n", StringComparison.Ordinal) + "\n"), 0x1ED);
        cpio.AddFile("init", Encoding.UTF8.GetBytes(GuestInit.Script.Replace("\r\n", "\n", StringComparison.Ordinal) + "\n"), 0x1ED);
        cpio.Finish();
        cpioBytes.Position = 0;
        await using (var gzip = new GZipStream(file, CompressionLevel.Fastest, leaveOpen: true))
        {
            await cpioBytes.CopyToAsync(gzip, cancellationToken).ConfigureAwait(false);
        }
    }
}
