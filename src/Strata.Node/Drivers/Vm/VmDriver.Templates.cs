using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Drivers.Sandbox.Templates;
using Strata.Qemu;
using Strata.Qemu.Guest;
using Strata.Qemu.Qmp;
using Strata.Qemu.Templates;

namespace Strata.Node.Drivers.Vm;

/// <summary>
/// Starts from a booted template (docs/vm.md#templates): an OCI VM's guest, saved once where its init waits for a
/// workload, is restored into ordinary anonymous guest RAM (the whole state, RAM included, loaded from the template's
/// state file with <c>-incoming</c>) and then given this VM's own parameters, a fresh random seed and the clock on the
/// <c>strata.setup</c> port. Nothing maps the template's files, so the balloon (live resize) gives memory back to the
/// host as on a cold boot and can never touch the template. Used for a VM's first start and every start of a
/// <c>--disposable</c> VM, whose disk is then a fresh overlay on the image's base, as the saved guest saw it. Whatever
/// fails on that path ends in a cold boot; the handle's <c>template</c> value (shown by <c>inspect</c>) says which start
/// it was and why.
/// </summary>
public sealed partial class VmDriver
{
    /// <summary>Handle key: how the guest started (<c>template KEY</c>, or <c>cold boot: why</c>).</summary>
    internal const string TemplateDataKey = "template";
    /// <summary>Written at the first start: a later start of a VM that is not disposable boots on a disk the template never saw.</summary>
    internal const string StartedOnceName = "started-once";
    /// <summary>The template boot's and every restore's kernel arguments after the machine's head (console, TSC).</summary>
    private const string TemplateArguments = "strata.template=1 strata.keepballoon=1 init_on_free=1";
    private static readonly TimeSpan SetupBudget = TimeSpan.FromSeconds(30);
    /// <summary>How long the cold boot to the template point may take (TCG on a loaded host can take a minute).</summary>
    private static readonly TimeSpan TemplateBootBudget = TimeSpan.FromSeconds(180);

    /// <summary>How this start begins: from template <see cref="Key"/> (its <see cref="StateFile"/>), or cold (<see cref="Note"/> says why).</summary>
    private sealed record VmTemplateStart(string? Key, string? StateFile, string Note, string? KernelSetup = null)
    {
        public static VmTemplateStart Cold(string why) => new(null, null, "cold boot: " + why);
    }

    /// <summary>The vm tier's templates (<c>cache/guest/vm-templates/</c>); null when off (daemon <c>--no-vm-templates</c>).</summary>
    internal SandboxTemplateStore? Templates { get; }

    /// <summary>Every saved vm template (for <c>strata image ls</c>); none when templates are off.</summary>
    public IReadOnlyList<SandboxTemplateInfo> ListTemplates() => Templates?.List() ?? [];

    /// <summary>Removes the vm templates <paramref name="which"/> selects; the bytes freed.</summary>
    public long RemoveTemplates(Func<SandboxTemplateInfo, bool> which) => Templates?.Remove(which) ?? 0;

    /// <summary>Removes the cached empty overlays of image <paramref name="imageId"/>'s base disk (all when null); the bytes freed.</summary>
    public long RemoveEmptyOverlays(string? imageId) => _guest.RootDisks.RemoveEmptyOverlays(imageId);

    /// <summary>The kernel command line's head (console, panic, TSC): the cold line without the guest's own words.</summary>
    private static string KernelHead(VmConfig config) =>
        config.KernelAppend is { } append && config.GuestWords is { } words && append.EndsWith(words, StringComparison.Ordinal)
            ? append[..^words.Length].TrimEnd()
            : throw new StrataException(ErrorKind.Internal, "the VM's kernel command line does not end with its guest words");

    private async Task<VmTemplateStart> PrepareTemplateStartAsync(DriverHandle handle, VmConfig config, GuestNetwork? network, CancellationToken ct)
    {
        if (config.Kind != VmKinds.Oci)
        {
            return VmTemplateStart.Cold("a disk image boots its own OS through firmware (templates serve OCI images)");
        }
        if (Templates is null)
        {
            return VmTemplateStart.Cold("templates are off for this daemon (--no-vm-templates)");
        }
        if (config.GuestWords is null || !config.SetupPort)
        {
            return VmTemplateStart.Cold(config.Machine == "virt"
                ? "arm64 guests boot cold (the guest's reseed program is x86-64 code)"
                : "the VM was created by a Strata without vm templates; create it again to start from one");
        }
        if (config.NoTemplate)
        {
            return VmTemplateStart.Cold("asked for (--no-template)");
        }
        if (RuntimeInformation.OSArchitecture != Architecture.X64)
        {
            return VmTemplateStart.Cold($"templates are made on x86-64 hosts only (this is {RuntimeInformation.OSArchitecture})");
        }
        if (!config.Disposable && File.Exists(Path.Combine(handle.Directory, StartedOnceName)))
        {
            return VmTemplateStart.Cold("the VM's disk holds what its earlier runs wrote, which the template's guest never saw (a template serves a VM's first start and every start of a --disposable VM)");
        }
        var head = KernelHead(config);
        var key = TemplateKey(config, head, network);
        var lookup = await Templates.FindOrCreateAsync(key, "booting the image's vm template (its first start; later starts restore it)",
            c => Templates.CreateAsync(key, config.ImageId ?? config.BaseDisk, (temp, c2) => BootAndSaveTemplateAsync(config, head, network, key, temp, c2), c), ct).ConfigureAwait(false);
        if (lookup.Template is not { } template)
        {
            LogTemplateFailed(handle.InstanceId, lookup.Failure!);
            return VmTemplateStart.Cold($"the template could not be made: {lookup.Failure}{lookup.Note}");
        }
        var setup = Path.Combine(template.Directory, GuestTemplate.KernelSetupFileName);
        return new VmTemplateStart(key, Path.Combine(template.Directory, GuestTemplate.StateFileName), $"template {key}{lookup.Note}", File.Exists(setup) ? setup : null);
    }

    /// <summary>
    /// 32 hex digits of SHA-256 over everything that shapes the guest up to the template point: guest init version,
    /// machine, architecture, accelerator, the named CPU model (a cluster's baseline), memory, vCPUs (and hot-plug room), the kernel command line's head (TSC rate),
    /// the devices (NIC, names disk, setup port, balloon), the image, and the base disk, kernel, initramfs and QEMU
    /// (path, size, date).
    /// </summary>
    internal static string TemplateKey(VmConfig config, string head, GuestNetwork? network, int guestInitVersion = GuestInit.Version)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"vm guest-init v{guestInitVersion}\n");
        text.Append(CultureInfo.InvariantCulture, $"machine {config.Machine} arch {RuntimeInformation.OSArchitecture} accel {config.Accel}\n");
        if (config.CpuModel is { } model)
        {
            // A cluster's baseline model (-cpu MODEL): a guest saved with -cpu host does not restore under it. Absent
            // for host and TCG, so the keys of existing templates stay as they were.
            text.Append(CultureInfo.InvariantCulture, $"cpu {model}\n");
        }
        text.Append(CultureInfo.InvariantCulture, $"memory {GuestRam.Size(config.MemoryMiB)} cpus {config.Cpus} maxcpus {config.MaxCpus}\n");
        text.Append(CultureInfo.InvariantCulture, $"head {head} {TemplateArguments}\n");
        text.Append(CultureInfo.InvariantCulture, $"devices net={network is not null} names={network?.NamesDisk is not null} setup={config.SetupPort} balloon=True\n");
        text.Append(CultureInfo.InvariantCulture, $"image {config.ImageId}\n");
        foreach (var file in new[] { config.BaseDisk, config.KernelPath ?? "", config.InitrdPath ?? "", FindOnPath(config.QemuBinary) ?? config.QemuBinary })
        {
            var info = new FileInfo(file);
            text.Append(CultureInfo.InvariantCulture, $"file {file} {(info.Exists ? info.Length : -1)} {(info.Exists ? info.LastWriteTimeUtc.Ticks : 0)}\n");
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..32];
    }

    /// <summary>
    /// The template boot, in the store's temporary directory: this VM's machine and devices (its tap and names disk, so
    /// the device state matches its clones), a throw-away overlay on the image's base disk, output ports into the
    /// directory, and no workload at all (template mode). Waits for init's ready report, saves the whole guest (RAM
    /// included) to <c>state</c> and ends QEMU.
    /// </summary>
    private async Task<SandboxTemplateInfo> BootAndSaveTemplateAsync(VmConfig config, string head, GuestNetwork? network, string key, string temp, CancellationToken ct)
    {
        var overlay = Path.Combine(temp, OverlayFileName);
        await _guest.RootDisks.CreateOverlayAsync(config.BaseDisk, config.BaseFormat, overlay, ct).ConfigureAwait(false);
        var argv = BuildArgv(config with { Overlay = overlay }, temp, loadvmTag: null, network, new VmBoot($"{head} {TemplateArguments}", OutputFiles: true));
        var plan = new QemuLaunchPlan(argv, temp, Path.Combine(temp, QmpSocketName), "", Path.Combine(temp, SerialFileName),
            Path.Combine(temp, "stdout"), Path.Combine(temp, "stderr"), Path.Combine(temp, ControlFileName));
        var state = Path.Combine(temp, GuestTemplate.StateFileName);
        var clock = Stopwatch.StartNew();
        var vm = await QemuVm.StartAsync(plan, ct).ConfigureAwait(false);
        await using (vm.ConfigureAwait(false))
        {
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                var control = File.Exists(plan.ControlPath) ? await File.ReadAllTextAsync(plan.ControlPath, ct).ConfigureAwait(false) : "";
                if (control.Contains(GuestInit.ReadyLine, StringComparison.Ordinal))
                {
                    break;
                }
                if (control.Contains(GuestInit.FailPrefix, StringComparison.Ordinal) || vm.HasExited || clock.Elapsed > TemplateBootBudget)
                {
                    var why = QemuVm.ReadGuestReport(plan.ControlPath).Failure ?? (vm.HasExited ? "QEMU exited" : $"no ready report within {TemplateBootBudget.TotalSeconds:0} s");
                    throw new StrataException(ErrorKind.Unavailable, $"the template boot failed: {why}");
                }
                await Task.Delay(20, ct).ConfigureAwait(false);
            }
            var bootMs = clock.Elapsed.TotalMilliseconds;
            clock.Restart();
            await GuestTemplate.SaveAsync(await vm.GetQmpAsync(ct).ConfigureAwait(false), state, ct).ConfigureAwait(false);
            var saveMs = clock.Elapsed.TotalMilliseconds;
            await vm.KillAsync().ConfigureAwait(false);
            foreach (var file in Directory.EnumerateFiles(temp).Where(f => f != state))
            {
                File.Delete(file);
            }
            // The kernel's setup sectors, which restores boot with instead of the whole kernel and initramfs.
            var kernelSetup = Path.Combine(temp, GuestTemplate.KernelSetupFileName);
            foreach (var file in GuestTemplate.WriteKernelSetup(config.KernelPath!, kernelSetup) ? [state, kernelSetup] : new[] { state })
            {
                await using var f = new FileStream(file, FileMode.Open, FileAccess.ReadWrite);
                f.Flush(flushToDisk: true);
            }
            var info = new SandboxTemplateInfo
            {
                Key = key,
                Image = config.ImageId ?? config.BaseDisk,
                MemoryMiB = config.MemoryMiB,
                Cpus = config.Cpus,
                Network = network is not null,
                CreatedAt = DateTimeOffset.UtcNow,
                StateSha256 = SandboxTemplateStore.Sha256(state),
                SizeBytes = await SandboxTemplateStore.AllocatedBytesAsync(temp, ct).ConfigureAwait(false),
                BootMs = Math.Round(bootMs),
                SaveMs = Math.Round(saveMs),
                RamInState = true,
            };
            await SandboxTemplateStore.WriteManifestAsync(temp, info, ct).ConfigureAwait(false);
            return info;
        }
    }

    /// <summary>
    /// After QEMU started under its supervisor with <c>-incoming defer</c>: load the template's state, then hand the guest
    /// its parameters. Any failure discards the template, ends that QEMU, makes the disk fresh again and boots cold.
    /// </summary>
    private async Task<(DriverHandle, VmTemplateStart)> ResumeOrBootColdAsync(DriverHandle handle, DriverHandle started, VmConfig config,
        VmTemplateStart start, GuestNetwork? network, CancellationToken ct)
    {
        var dir = handle.Directory;
        try
        {
            var qmp = await QmpClient.ConnectAsync(QmpSocket(handle), TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
            await using (qmp.ConfigureAwait(false))
            {
                await GuestTemplate.RestoreAsync(qmp, start.StateFile!, ct).ConfigureAwait(false);
            }
            var words = config.GuestWords + (network is null ? "" : $" {network.ToKernelArgument()} strata.mac={network.Mac}");
            await GuestTemplate.SendSetupAsync(Path.Combine(dir, SetupSocketName), GuestTemplate.SetupLine(words, DateTimeOffset.UtcNow), SetupBudget, ct).ConfigureAwait(false);
            return (started, start);
        }
        catch (StrataException e) when (e.Kind != ErrorKind.Cancelled)
        {
            var guestSaid = QemuVm.ReadGuestReport(Path.Combine(dir, ControlFileName)).Failure;
            var why = e.Message + (guestSaid is not null ? $" (guest: {guestSaid})" : "");
            LogTemplateRestoreFailed(handle.InstanceId, start.Key!, why);
            Templates!.Discard(start.Key!, "a start from it failed: " + why);
            await _supervised.EndEverythingAsync(started, ct).ConfigureAwait(false);
            DeleteRunFiles(dir);
            // The restored guest may have reached the disk: the cold boot gets a fresh one, as the template start would have.
            await CreateOverlayAsync(config, ct).ConfigureAwait(false);
            var relaunched = await _supervised.LaunchAsync(handle, SupervisorConfigFor(handle, BuildArgv(config, dir, loadvmTag: null, network)), ct).ConfigureAwait(false);
            return (relaunched, VmTemplateStart.Cold($"the start from template {start.Key} failed ({why}); the template was discarded"));
        }
    }

    [LoggerMessage(EventId = 3510, Level = LogLevel.Warning, Message = "vm {Instance}: no template could be made, booting cold: {Why}")]
    private partial void LogTemplateFailed(string instance, string why);

    [LoggerMessage(EventId = 3511, Level = LogLevel.Warning, Message = "vm {Instance}: the start from template {Key} failed, booting cold: {Why}")]
    private partial void LogTemplateRestoreFailed(string instance, string key, string why);
}
