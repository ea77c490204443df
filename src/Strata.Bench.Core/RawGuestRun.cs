using System.Diagnostics;
using System.Globalization;
using Strata.Qemu;
using Strata.Qemu.Guest;

namespace Strata.Bench.Core;

/// <summary>
/// What the raw-QEMU baselines share: the guest tiers' cached files under a daemon's root, and one timed run of
/// busybox <c>echo bench</c> booted by QEMU alone from a fresh overlay on the image's base disk, in a directory of
/// its own that is removed afterwards. A baseline adds only its own options and steps after QEMU started.
/// </summary>
internal static class RawGuestRun
{
    /// <summary>The newest initramfs and base disk of the guest pipeline's cache (<c>&lt;root&gt;/cache/guest</c>), or nulls.</summary>
    public static (string Cache, string? Initrd, string? Disk) CachedFiles(string daemonRoot)
    {
        var cache = Path.Combine(daemonRoot, "cache", "guest");
        return (cache, Newest(Path.Combine(cache, "initramfs"), "*.cpio.gz"), Newest(Path.Combine(cache, "disks"), "*.ext4"));
    }

    /// <summary>
    /// Boots the guest once and returns the time from the overlay's creation to QEMU's exit; throws naming
    /// <paramref name="what"/> when the workload did not exit 0.
    /// </summary>
    public static async Task<RunSample> RunAsync(string dir, string kernel, string initrd, string baseDisk, string accel, string work, string what,
        Func<GuestVmOptions, GuestVmOptions>? customize, Func<QemuLaunchPlan, CancellationToken, Task>? afterStart, CancellationToken ct)
    {
        Directory.CreateDirectory(dir);
        try
        {
            var sw = Stopwatch.StartNew();
            var overlay = Path.Combine(dir, "rootfs.qcow2");
            await new DiskBuilder(Path.Combine(work, "disk-cache")).CreateOverlayAsync(baseDisk, "raw", overlay, ct).ConfigureAwait(false);
            var options = new GuestVmOptions
            {
                Directory = dir,
                KernelPath = kernel,
                InitrdPath = initrd,
                Workload = new GuestWorkload(["echo", "bench"], new Dictionary<string, string> { ["PATH"] = GuestWorkload.DefaultPath }, "/"),
                Accel = accel,
                RootDisk = new QemuDrive(overlay, "qcow2"),
                ExecSocket = Path.Combine(dir, "exec.sock"),
            }.WithFreePageReporting();
            var plan = QemuVm.Plan(customize is null ? options : customize(options));
            await using var vm = await QemuVm.StartAsync(OwnSession.Of(plan), ct).ConfigureAwait(false);
            if (afterStart is not null)
            {
                await afterStart(plan, ct).ConfigureAwait(false);
            }
            var exit = await vm.WaitAsync(TimeSpan.FromMinutes(2), ct).ConfigureAwait(false);
            var ms = sw.Elapsed.TotalMilliseconds;
            if (exit.GuestExitCode != 0)
            {
                throw new InvalidOperationException($"{what} failed: {exit.Reason}");
            }
            return new RunSample(null, ms);
        }
        finally
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>A directory of one run: <c>&lt;work&gt;/&lt;prefix&gt;&lt;n&gt;</c>.</summary>
    public static string RunDirectory(string work, string prefix, ref int runs) =>
        Path.Combine(work, prefix + Interlocked.Increment(ref runs).ToString(CultureInfo.InvariantCulture));

    private static string? Newest(string directory, string pattern) =>
        Directory.GetFiles(directory, pattern).OrderByDescending(File.GetLastWriteTimeUtc).FirstOrDefault();
}
