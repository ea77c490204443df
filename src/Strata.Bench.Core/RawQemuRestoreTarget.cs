using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Strata.Contracts;
using Strata.Qemu;
using Strata.Qemu.Guest;
using Strata.Qemu.Templates;

namespace Strata.Bench.Core;

/// <summary>
/// Raw QEMU restoring the sandbox tier's own saved template (docs/sandbox.md#templates): the same memory file, device
/// state, kernel, initramfs, base disk (a fresh overlay per run), accelerator and flags, started with
/// <c>-incoming defer</c>, the state loaded over QMP and the parameters handed over the setup port exactly as the
/// driver does; timed from launch to QEMU's exit. The baseline of a sandbox start from a template.
/// </summary>
/// <remarks><paramref name="argv"/>: the guest's workload (default <c>echo bench</c>, as the cold raw QEMU baseline runs).</remarks>
public sealed class RawQemuRestoreTarget(string kernel, string initrd, string baseDisk, string template, int memoryMiB, string accel, string work,
    IReadOnlyList<string>? argv = null) : IBenchTarget
{
    private int _runs;

    public string Name => "qemu-restore";
    public string Kind => "baseline";
    public string Label => "qemu-system-x86_64 -M microvm -incoming (the sandbox's own template)";
    public string? Baseline => null;
    public string? Engine => accel.ToUpperInvariant();
    public bool Slow => true;

    /// <summary>Finds the daemon's template for the default sandbox memory, or says why it cannot.</summary>
    public static (RawQemuRestoreTarget? Target, string? Why) Locate(string daemonRoot, string accel, string work, int memoryMiB = 256)
    {
        try
        {
            var (cache, initrd, disk) = RawGuestRun.CachedFiles(daemonRoot);
            var templates = Path.Combine(cache, "templates");
            var template = Directory.Exists(templates)
                ? Directory.GetDirectories(templates).Where(d => !Path.GetFileName(d).StartsWith('.') && File.Exists(Path.Combine(d, "template.json")))
                    .FirstOrDefault(d => JsonDocument.Parse(File.ReadAllText(Path.Combine(d, "template.json"))).RootElement.GetProperty("memoryMiB").GetInt32() == memoryMiB)
                : null;
            if (initrd is null || disk is null || template is null)
            {
                return (null, $"the sandbox tier's cached initramfs, disk and {memoryMiB} MiB template are not under {cache} (templates off?)");
            }
            return (new RawQemuRestoreTarget(GuestKernel.Locate().KernelPath, initrd, disk, template, memoryMiB, accel, work), null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or StrataException or JsonException or KeyNotFoundException)
        {
            return (null, $"cannot read the sandbox tier's cache under the daemon's root {daemonRoot} ({e.Message}); run the bench on the daemon's host as its user");
        }
    }

    public Task<RunSample> RunOnceAsync(CancellationToken ct) =>
        RawGuestRun.RunAsync(RawGuestRun.RunDirectory(work, "qemu-restore", ref _runs), kernel, initrd, baseDisk, accel, work, "raw QEMU restore",
            options => GuestTemplate.ForRestore(options with
            {
                Workload = argv is null ? options.Workload : options.Workload with { Argv = argv },
                MemoryMiB = memoryMiB,
                Hostname = "bench",
            }, template, Path.Combine(options.Directory, GuestTemplate.SetupSocketName)),
            (plan, ct) => GuestTemplate.ResumeAsync(plan.QmpSocket, Path.Combine(template, GuestTemplate.StateFileName), Path.Combine(plan.Directory, GuestTemplate.SetupSocketName),
                GuestTemplate.SetupLine(plan.SetupLine!, DateTimeOffset.UtcNow), TimeSpan.FromSeconds(30), ct),
            ct);
}
