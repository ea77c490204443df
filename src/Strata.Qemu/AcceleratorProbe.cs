using System.Text.Json;
using Strata.Contracts;
using Strata.Contracts.Host;
using Strata.Qemu.Guest;

namespace Strata.Qemu;

/// <summary>The accelerator to run guests with, and why.</summary>
public sealed record AcceleratorChoice(string Accel, string Reason);

/// <summary>What opening <c>/dev/kvm</c> showed.</summary>
public sealed record KvmDeviceStatus(bool Exists, bool Opens, string? Error);

/// <summary>What booting a test guest under KVM showed.</summary>
/// <param name="Booted">The guest printed its marker and QEMU exited.</param>
/// <param name="TimedOut">Nothing came within the timeout (the guest hangs, e.g. broken nested virtualization).</param>
/// <param name="Error">QEMU refused KVM or failed (its error output).</param>
public sealed record KvmBootResult(bool Booted, bool TimedOut, TimeSpan Elapsed, string? Error);

/// <summary>
/// Decides KVM vs TCG. <c>/dev/kvm</c> opening is not enough: under nested virtualization Linux guests
/// can hang under KVM, so a tiny guest must really boot (print a marker, reboot) within a short timeout.
/// The answer is cached in a JSON file keyed by kernel path + mtime + QEMU version, so a daemon probes once.
/// </summary>
public sealed class AcceleratorProbe
{
    public const string CacheFileName = "accel-probe.json";
    private const int CacheVersion = 1;

    private readonly string _cacheDirectory;
    private readonly string _qemuBinary;
    private readonly string _kvmDevice;
    private readonly TimeProvider _time;

    public AcceleratorProbe(string cacheDirectory, string qemuBinary = "qemu-system-x86_64", TimeProvider? timeProvider = null, string kvmDevice = "/dev/kvm")
    {
        _cacheDirectory = cacheDirectory;
        _qemuBinary = qemuBinary;
        _kvmDevice = kvmDevice;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Returns the cached choice when the key matches, else probes and caches.</summary>
    public async Task<AcceleratorChoice> ProbeAsync(string kernel, string initrd, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (!File.Exists(kernel))
        {
            throw new StrataException(ErrorKind.Unavailable, $"guest kernel {kernel} does not exist; install it with 'apt-get install {GuestKernel.Package}'");
        }
        var version = await QemuVersionAsync(cancellationToken).ConfigureAwait(false);
        var key = $"{Path.GetFullPath(kernel)}|{File.GetLastWriteTimeUtc(kernel).Ticks}|{version}|{_kvmDevice}";
        var cachePath = Path.Combine(_cacheDirectory, CacheFileName);
        if (TryReadCache(cachePath, key) is { } cached)
        {
            return cached;
        }
        var device = OpenKvm(_kvmDevice);
        KvmBootResult? boot = null;
        if (device.Opens)
        {
            boot = await BootTestGuestAsync(Accelerators.Kvm, kernel, initrd, timeout, cancellationToken).ConfigureAwait(false);
        }
        var choice = Decide(device, boot, timeout);
        WriteCache(cachePath, key, choice);
        return choice;
    }

    /// <summary>The decision alone (pure).</summary>
    public static AcceleratorChoice Decide(KvmDeviceStatus device, KvmBootResult? boot, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (!device.Exists)
        {
            return new(Accelerators.Tcg, "/dev/kvm does not exist (no hardware virtualization, or the kvm module is not loaded); using TCG");
        }
        if (!device.Opens)
        {
            return new(Accelerators.Tcg, $"/dev/kvm exists but cannot be opened ({device.Error}); using TCG");
        }
        if (boot is null)
        {
            return new(Accelerators.Tcg, "KVM present but no test guest was booted; using TCG");
        }
        if (boot.Booted)
        {
            return new(Accelerators.Kvm, $"KVM works: a test guest booted in {boot.Elapsed.TotalMilliseconds:0} ms");
        }
        if (boot.TimedOut)
        {
            return new(Accelerators.Tcg, $"KVM present but a test guest did not boot within {timeout.TotalSeconds:0.#} s; using TCG");
        }
        return new(Accelerators.Tcg, $"KVM present but QEMU could not boot a test guest with it ({boot.Error}); using TCG");
    }

    internal static KvmDeviceStatus OpenKvm(string device)
    {
        if (!File.Exists(device))
        {
            return new(false, false, null);
        }
        try
        {
            using var handle = File.OpenHandle(device, FileMode.Open, FileAccess.ReadWrite);
            return new(true, true, null);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            return new(true, false, e.Message);
        }
    }

    /// <summary>Boots the initramfs in probe mode: its init prints the marker on the console and reboots at once.</summary>
    internal async Task<KvmBootResult> BootTestGuestAsync(string accel, string kernel, string initrd, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var dir = Directory.CreateTempSubdirectory("strata-kvm-probe-");
        try
        {
            var serial = Path.Combine(dir.FullName, "serial.log");
            var argv = new QemuCommandLine(QemuMachine.Microvm)
                .WithBinary(_qemuBinary)
                .WithAccel(accel)
                .WithMemoryMiB(128)
                .WithKernel(kernel, initrd, "console=ttyS0 quiet panic=-1 reboot=t strata.probe=1" + TscArgument(accel))
                .WithSerialFile(serial)
                .Build();
            var plan = new QemuLaunchPlan(argv, dir.FullName, Path.Combine(dir.FullName, "qmp.sock"), "", serial, "", "", Path.Combine(dir.FullName, "control"));
            var started = _time.GetTimestamp();
            await using var vm = await QemuVm.StartAsync(plan, _time, cancellationToken).ConfigureAwait(false);
            var exit = await vm.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            var elapsed = _time.GetElapsedTime(started);
            var output = File.Exists(serial) ? await File.ReadAllTextAsync(serial, cancellationToken).ConfigureAwait(false) : "";
            if (output.Contains(GuestInit.ProbeMarker, StringComparison.Ordinal))
            {
                return new KvmBootResult(true, false, elapsed, null);
            }
            if (exit.TimedOut)
            {
                return new KvmBootResult(false, true, elapsed, null);
            }
            return new KvmBootResult(false, false, elapsed, exit.Reason ?? $"QEMU exited with {exit.QemuExitCode} without the marker");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static string TscArgument(string accel) =>
        accel == Accelerators.Tcg && HostTsc.KHz is long khz ? " tsc_early_khz=" + khz.ToString(System.Globalization.CultureInfo.InvariantCulture) : "";

    private async Task<string> QemuVersionAsync(CancellationToken cancellationToken)
    {
        var r = await ExternalTool.RunAsync(_qemuBinary, ["--version"], "qemu-system-x86", cancellationToken).ConfigureAwait(false);
        return r.Stdout.Split('\n')[0].Trim();
    }


    private static AcceleratorChoice? TryReadCache(string path, string key)
    {
        try
        {
            var entry = JsonSerializer.Deserialize(File.ReadAllText(path), ProbeCacheJson.Default.ProbeCacheEntry);
            return entry is not null && entry.Version == CacheVersion && entry.Key == key && Accelerators.IsKnown(entry.Accel)
                ? new AcceleratorChoice(entry.Accel, entry.Reason)
                : null;
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null; // Missing or unreadable: probe again.
        }
    }

    private void WriteCache(string path, string key, AcceleratorChoice choice)
    {
        Directory.CreateDirectory(_cacheDirectory);
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(new ProbeCacheEntry(CacheVersion, key, choice.Accel, choice.Reason, _time.GetUtcNow()), ProbeCacheJson.Default.ProbeCacheEntry));
    }
}

/// <summary>The probe's cache file (versioned; an unknown version is ignored and the probe runs again).</summary>
internal sealed record ProbeCacheEntry(int Version, string Key, string Accel, string Reason, DateTimeOffset ProbedAt);

[System.Text.Json.Serialization.JsonSerializable(typeof(ProbeCacheEntry))]
[System.Text.Json.Serialization.JsonSourceGenerationOptions(WriteIndented = true)]
internal sealed partial class ProbeCacheJson : System.Text.Json.Serialization.JsonSerializerContext;
