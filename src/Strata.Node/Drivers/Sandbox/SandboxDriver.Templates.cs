using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Drivers.Sandbox.Templates;
using Strata.Node.Supervision;
using Strata.Qemu;
using Strata.Qemu.Guest;
using Strata.Qemu.Templates;

namespace Strata.Node.Drivers.Sandbox;

/// <summary>
/// Starts from a booted template (docs/sandbox.md#templates): the image's guest, saved once where its init waits for a
/// workload, is restored (its RAM mapped copy-on-write from the template's memory file, its device state loaded over
/// QMP) and then given this sandbox's own parameters, a fresh random seed and the clock on the <c>strata.setup</c> port.
/// Whatever fails on that path ends in a cold boot, and the handle's <c>template</c> value (shown by <c>inspect</c>)
/// says which start it was and why.
/// </summary>
public sealed partial class SandboxDriver
{
    /// <summary>Handle key: how the guest started (<c>template KEY</c>, or <c>cold boot: why</c>).</summary>
    internal const string TemplateDataKey = "template";
    /// <summary>How long a resumed guest may take to confirm its parameters before the start falls back to a cold boot.</summary>
    private static readonly TimeSpan SetupBudget = TimeSpan.FromSeconds(30);

    /// <summary>The template store; null when templates are off (daemon <c>--no-sandbox-templates</c>).</summary>
    internal SandboxTemplateStore? Templates { get; }

    /// <summary>
    /// How this start begins: from a template (<see cref="Options"/> set) or cold (<see cref="Note"/> says why).
    /// <see cref="MemoryCopy"/>: a start with <c>-v</c> mounts restores into its own copy of the template's memory (on
    /// tmpfs), removed once QEMU runs.
    /// </summary>
    private sealed record TemplateStart(GuestVmOptions? Options, string? Key, string? StateFile, string Note, string? MemoryCopy = null)
    {
        public static TemplateStart Cold(string why) => new(null, null, null, "cold boot: " + why);

        public string Describe() => Note;
    }

    /// <summary>Every saved template (for <c>strata image ls</c>); none when templates are off.</summary>
    public IReadOnlyList<SandboxTemplateInfo> ListTemplates() => Templates?.List() ?? [];

    /// <summary>Removes the templates <paramref name="which"/> selects; the bytes freed.</summary>
    public long RemoveTemplates(Func<SandboxTemplateInfo, bool> which) => Templates?.Remove(which) ?? 0;

    /// <summary>Removes the cached empty overlays of image <paramref name="imageId"/>'s base disk (all when null); the bytes freed.</summary>
    public long RemoveEmptyOverlays(string? imageId) => _guest.RootDisks.RemoveEmptyOverlays(imageId);

    private static SandboxTemplateStore? CreateTemplateStore(SandboxDriverOptions options, ILogger logger) =>
        options.Templates ? new SandboxTemplateStore(Path.Combine(options.CacheDirectory, "templates"), logger) : null;

    private async Task<TemplateStart> PrepareTemplateStartAsync(DriverHandle handle, BootAssets assets, SandboxWorkload workload, GuestVmOptions options, CancellationToken ct)
    {
        if (Templates is null)
        {
            return TemplateStart.Cold("templates are off for this daemon (--no-sandbox-templates)");
        }
        if (workload.NoTemplate)
        {
            return TemplateStart.Cold("asked for (--no-template)");
        }
        if (workload.Mounts.Count > MaxPluggedMounts)
        {
            return TemplateStart.Cold($"the sandbox has more than {MaxPluggedMounts} -v mounts (a template has at most {MaxPluggedMounts} slots to plug them into)");
        }
        if (RuntimeInformation.OSArchitecture != Architecture.X64)
        {
            return TemplateStart.Cold($"templates are made on x86-64 hosts only (this is {RuntimeInformation.OSArchitecture})");
        }
        var shape = new SandboxTemplateShape(workload.ImageDigest, workload.BaseDisk, assets.Kernel.KernelPath, assets.Initrd, assets.Accel.Accel,
            workload.MemoryMiB, workload.Cpus, _options.QemuBinary, assets.Accel.Accel == Accelerators.Tcg ? HostTsc.KHz : null,
            options.Network is not null, options.Network?.NamesDisk is not null, options.Balloon, workload.Mounts.Count,
            assets.Accel.Accel == Accelerators.Kvm ? workload.CpuModel : null);
        var key = shape.Key();
        var lookup = await Templates.FindOrCreateAsync(key, "booting the image's template (its first start; later starts restore it)",
            c => Templates.CreateAsync(shape, key, (temp, c2) => TemplateBootOptionsAsync(options, temp, workload, c2), c), ct).ConfigureAwait(false);
        if (lookup.Template is not { } template)
        {
            LogTemplateFailed(handle.InstanceId, lookup.Failure!);
            return TemplateStart.Cold($"the template could not be made: {lookup.Failure}{lookup.Note}");
        }
        string? copy = null;
        if (workload.Mounts.Count > 0)
        {
            // -v mounts: virtiofsd maps the guest's RAM shared, so this start gets its own copy of the template's memory.
            copy = MemoryCopyPath(handle);
            File.Delete(copy);
            try
            {
                await GuestTemplate.CopyMemoryAsync(template.Directory, copy, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.ComponentModel.Win32Exception)
            {
                File.Delete(copy);
                return TemplateStart.Cold($"the template's memory could not be copied for the -v mounts ({e.Message})");
            }
            Mark("sandbox template memory copied");
        }
        var restore = GuestTemplate.ForRestore(options, template.Directory, Path.Combine(handle.Directory, SetupSocketName), copy);
        return new TemplateStart(restore, key, Path.Combine(template.Directory, GuestTemplate.StateFileName), $"template {key}{lookup.Note}", copy);
    }

    /// <summary>At most this many <c>-v</c> mounts start from a template (one empty PCIe slot each); more boot cold.</summary>
    internal const int MaxPluggedMounts = 8;

    /// <summary>
    /// Where a start with <c>-v</c> mounts keeps its copy of the template's memory: tmpfs (the guest writes it all the
    /// time; on disk that would be written back), named after the sandbox's directory. Unlinked once QEMU runs.
    /// </summary>
    internal static string MemoryCopyPath(DriverHandle handle) =>
        Path.Combine("/dev/shm", "strata-ram-" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes(Path.GetFullPath(handle.Directory))))[..24]);

    /// <summary>
    /// The template boot's guest: this sandbox's devices (the same NIC and names disk, so the device state matches), a
    /// temporary overlay on the image's base disk, output ports into the temporary directory, and a placeholder
    /// workload that never reaches the guest (template mode sends parameters only to a restored guest).
    /// </summary>
    private async Task<GuestVmOptions> TemplateBootOptionsAsync(GuestVmOptions instance, string temp, SandboxWorkload workload, CancellationToken ct)
    {
        var overlay = Path.Combine(temp, OverlayFileName);
        await _guest.RootDisks.CreateOverlayAsync(workload.BaseDisk, "raw", overlay, ct).ConfigureAwait(false);
        return instance with
        {
            Directory = temp,
            Workload = new GuestWorkload(["true"]),
            Hostname = null,
            RootDisk = new QemuDrive(overlay, "qcow2"),
            StdoutPath = null,
            StderrPath = null,
            ExecSocket = Path.Combine(temp, ExecSocketName),
            Mounts = [],
            // Empty slots the restores plug their -v mounts into (QEMU 7.2 cannot save a vhost-user-fs device).
            HotplugSlots = workload.Mounts.Count,
        };
    }

    /// <summary>
    /// After QEMU started under its supervisor with <c>-incoming defer</c>: load the template's state, then hand the
    /// guest its parameters. Any failure discards the template, ends that QEMU and boots the sandbox cold instead.
    /// </summary>
    private async Task<(DriverHandle, TemplateStart)> ResumeOrBootColdAsync(DriverHandle handle, DriverHandle started, SupervisorConfig config,
        TemplateStart fromTemplate, QemuLaunchPlan plan, GuestVmOptions coldOptions, CancellationToken ct)
    {
        var dir = handle.Directory;
        try
        {
            await GuestTemplate.ResumeAsync(Path.Combine(dir, QmpSocketName), fromTemplate.StateFile!, Path.Combine(dir, SetupSocketName),
                GuestTemplate.SetupLine(plan.SetupLine!, DateTimeOffset.UtcNow), SetupBudget, ct,
                fromTemplate.Options!.MountsHotplugged ? fromTemplate.Options.Mounts : null).ConfigureAwait(false);
            Mark("sandbox guest confirmed its parameters");
            return (started, fromTemplate);
        }
        catch (StrataException e) when (e.Kind != ErrorKind.Cancelled)
        {
            var qemuSaid = ReadTail(Path.Combine(dir, QemuLogName));
            var guestSaid = SandboxGuestReport.Read(Path.Combine(dir, ControlFileName)).Failure;
            var why = e.Message + (guestSaid is not null ? $" (guest: {guestSaid})" : "") + (qemuSaid.Length > 0 ? $" (QEMU: {qemuSaid})" : "");
            LogTemplateRestoreFailed(handle.InstanceId, fromTemplate.Key!, why);
            Templates!.Discard(fromTemplate.Key!, "a start from it failed: " + why);
            await _supervised.EndEverythingAsync(started, ct).ConfigureAwait(false);
            foreach (var stale in new[] { ExitFileName, ControlFileName, StopSignalFileName, ExecSocketName, QmpSocketName, SetupSocketName, QemuLogName, "serial.log" })
            {
                File.Delete(Path.Combine(dir, stale));
            }
            var cold = QemuVm.Plan(coldOptions);
            var relaunched = await _supervised.LaunchAsync(handle, config with { Argv = [.. config.Argv.Take(4), .. cold.Argv] }, ct).ConfigureAwait(false);
            return (relaunched, TemplateStart.Cold($"the start from template {fromTemplate.Key} failed ({why}); the template was discarded"));
        }
        finally
        {
            // QEMU has the file open (and hands it to virtiofsd): the name can go, the memory goes with QEMU.
            if (fromTemplate.MemoryCopy is { } copy)
            {
                File.Delete(copy);
            }
        }
    }

    [LoggerMessage(EventId = 3410, Level = LogLevel.Warning, Message = "sandbox {Instance}: no template could be made, booting cold: {Why}")]
    private partial void LogTemplateFailed(string instance, string why);

    [LoggerMessage(EventId = 3411, Level = LogLevel.Warning, Message = "sandbox {Instance}: the start from template {Key} failed, booting cold: {Why}")]
    private partial void LogTemplateRestoreFailed(string instance, string key, string why);
}
