using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Qemu;

namespace Strata.Node.Drivers.Vm;

public sealed partial class VmDriver
{
    // ---- snapshots ----

    /// <summary>
    /// QEMU <c>savevm</c>: memory, device state and disk go into the overlay as an internal snapshot; the VM pauses
    /// for the save and runs on afterwards. The snapshot directory only names it.
    /// </summary>
    public async Task<SnapshotDetails> SnapshotAsync(DriverHandle handle, string directory, CancellationToken cancellationToken)
    {
        if (!IsRunning(handle))
        {
            throw StrataException.Conflict("a VM snapshot captures memory and devices, so the VM must be running; start it first");
        }
        var tag = "strata-" + Path.GetFileName(Path.TrimEndingDirectorySeparator(directory));
        var config = ReadConfig(handle);
        var before = new FileInfo(config.Overlay).Length;
        var socket = QmpSocket(handle);
        await _qmp.HumanAsync(socket, "delvm " + tag, cancellationToken).ConfigureAwait(false); // leftovers of an unfinished attempt
        var output = await _qmp.HumanAsync(socket, "savevm " + tag, cancellationToken).ConfigureAwait(false);
        if (!await HasSnapshotAsync(socket, tag, cancellationToken).ConfigureAwait(false))
        {
            throw StrataException.Conflict($"QEMU could not save the VM: {output.Trim()}");
        }
        await File.WriteAllBytesAsync(Path.Combine(directory, SnapshotFileName),
            JsonSerializer.SerializeToUtf8Bytes(new VmSnapshotRecord { Tag = tag, TakenAt = DateTimeOffset.UtcNow }, VmJsonContext.Default.VmSnapshotRecord),
            cancellationToken).ConfigureAwait(false);
        var size = Math.Max(0, new FileInfo(config.Overlay).Length - before);
        LogSnapshotWritten(handle.InstanceId, tag, size);
        return new SnapshotDetails(SnapshotKind.Stateful, size, $"memory, devices and disk of the running VM (internal snapshot {tag} in its overlay)");
    }

    /// <summary>Starts the stopped VM straight into the saved moment (<c>-loadvm</c>).</summary>
    public Task<DriverHandle> RestoreAsync(DriverHandle handle, string directory, CancellationToken cancellationToken)
    {
        var tag = ReadSnapshot(directory).Tag;
        return LaunchAsync(handle, tag, cancellationToken);
    }

    /// <summary><c>loadvm</c> on the running VM: it continues from the saved moment, without a reboot.</summary>
    public async Task RestoreRunningAsync(DriverHandle handle, string directory, CancellationToken cancellationToken)
    {
        var tag = ReadSnapshot(directory).Tag;
        if (!IsRunning(handle))
        {
            throw StrataException.Conflict("the VM is not running; restore starts it from the snapshot instead");
        }
        var socket = QmpSocket(handle);
        if (!await HasSnapshotAsync(socket, tag, cancellationToken).ConfigureAwait(false))
        {
            throw StrataException.NotFound($"the VM's disk no longer holds snapshot {tag} (a disposable VM's snapshots end with its run)");
        }
        var output = await _qmp.HumanAsync(socket, "loadvm " + tag, cancellationToken).ConfigureAwait(false);
        if (output.Contains("Error", StringComparison.OrdinalIgnoreCase))
        {
            var why = output.Contains("Length mismatch", StringComparison.Ordinal)
                ? $" (the snapshot was taken by a Strata that gave guests exactly their MiB of RAM; guests now get {GuestRam.PadKiB} KiB more, docs/vm.md#snapshots-and-rollback: take a new snapshot)"
                : "";
            throw new StrataException(ErrorKind.Internal, $"QEMU could not load snapshot {tag}: {output.Trim()}{why}");
        }
        var status = await _qmp.ExecuteAsync(socket, "query-status", null, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        if (status.TryGetProperty("running", out var running) && !running.GetBoolean())
        {
            await _qmp.ExecuteAsync(socket, "cont", null, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task DeleteSnapshotAsync(DriverHandle handle, string directory, bool running, CancellationToken cancellationToken)
    {
        if (!File.Exists(Path.Combine(directory, SnapshotFileName)))
        {
            return;
        }
        var tag = ReadSnapshot(directory).Tag;
        if (IsRunning(handle))
        {
            await _qmp.HumanAsync(QmpSocket(handle), "delvm " + tag, cancellationToken).ConfigureAwait(false);
        }
        else if (TryReadConfig(handle) is { } config && File.Exists(config.Overlay))
        {
            await ExternalTool.RunAsync("qemu-img", ["snapshot", "-d", tag, config.Overlay], "qemu-utils", cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<bool> HasSnapshotAsync(string socket, string tag, CancellationToken cancellationToken)
    {
        var list = await _qmp.HumanAsync(socket, "info snapshots", cancellationToken).ConfigureAwait(false);
        return list.Split('\n').Any(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(tag, StringComparer.Ordinal));
    }

    private static VmSnapshotRecord ReadSnapshot(string directory)
    {
        var path = Path.Combine(directory, SnapshotFileName);
        if (!File.Exists(path))
        {
            throw StrataException.NotFound($"{directory} is not a VM snapshot");
        }
        return JsonSerializer.Deserialize(File.ReadAllBytes(path), VmJsonContext.Default.VmSnapshotRecord)
            ?? throw new StrataException(ErrorKind.Internal, $"{path} is empty");
    }

    // ---- live resize ----

    /// <summary>
    /// Memory through the virtio balloon (between <see cref="MinimumMemoryMiB"/> and the boot size: a balloon only
    /// gives back what the VM booted with); vCPUs by hot-plugging CPUs up to the boot-time maximum (removing is not
    /// supported). A memory change answers once the guest has the new size (or after
    /// <see cref="Qemu.Qmp.BalloonStats.SettleWithin"/>, with a note saying how far it got).
    /// </summary>
    public async Task<ResizeResult> ResizeAsync(DriverHandle handle, long? memoryBytes, double? cpus, CancellationToken cancellationToken)
    {
        if (!IsRunning(handle))
        {
            throw StrataException.Conflict("resize changes a running VM; start it first (or recreate it with other --memory/--cpus)");
        }
        var vcpus = TierResizeRange.WholeVcpus(cpus, "vm");
        var config = ReadConfig(handle);
        var socket = QmpSocket(handle);
        var maxBytes = (long)config.MemoryMiB * 1024 * 1024;
        string? note = null;
        if (memoryBytes is long mem)
        {
            if (mem < MinimumMemoryMiB * 1024L * 1024 || mem > maxBytes)
            {
                throw StrataException.Invalid("memoryBytes", $"memory can change between {MinimumMemoryMiB} MiB and the {config.MemoryMiB} MiB the VM booted with (the balloon cannot add memory beyond that)");
            }
            if (memoryBytes < maxBytes && await _usage.NeedsMoreThanAsync(handle, mem, ct => ReadGuestUsageAsync(handle, ct), cancellationToken).ConfigureAwait(false) is { } needs)
            {
                throw StrataException.Invalid("memoryBytes", needs);
            }
            await _qmp.ExecuteAsync(socket, "balloon", new JsonObject { ["value"] = mem }, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        }
        var current = await CpuCountAsync(socket, cancellationToken).ConfigureAwait(false);
        if (vcpus is int want && want != current)
        {
            if (want < current)
            {
                throw StrataException.Invalid("cpus", $"vCPUs can only be added while the VM runs ({current} now); removing them is not supported");
            }
            if (want > config.MaxCpus)
            {
                throw StrataException.Invalid("cpus", $"this VM can grow to {config.MaxCpus} vCPUs (set when it was created)");
            }
            current = await HotAddCpusAsync(socket, want - current, cancellationToken).ConfigureAwait(false);
            note = "new vCPUs are plugged in; a guest without a CPU-online rule brings them up with 'echo 1 > /sys/devices/system/cpu/cpuN/online'";
        }
        async Task<long> Actual()
        {
            var balloon = await _qmp.ExecuteAsync(socket, "query-balloon", null, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            return GuestRam.Visible(balloon, maxBytes);
        }
        // Answered once the guest has given (or taken) the memory, so what resize returns is what the guest has.
        var actual = memoryBytes is long target
            ? await Qemu.Qmp.BalloonStats.SettleAsync(Actual, target, Qemu.Qmp.BalloonStats.SettleWithin, cancellationToken).ConfigureAwait(false)
            : await Actual().ConfigureAwait(false);
        if (memoryBytes is long wanted && Math.Abs(actual - wanted) >= 1024 * 1024)
        {
            note = (note is null ? "" : note + "; ") + $"the guest is still giving memory back: it has {actual / (1024 * 1024)} MiB of the {wanted / (1024 * 1024)} MiB asked";
        }
        return new ResizeResult(actual, maxBytes, current, config.MaxCpus, note);
    }

    private async Task<int> CpuCountAsync(string socket, CancellationToken cancellationToken)
    {
        var list = await _qmp.ExecuteAsync(socket, "query-cpus-fast", null, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        return list.GetArrayLength();
    }

    private async Task<int> HotAddCpusAsync(string socket, int count, CancellationToken cancellationToken)
    {
        var slots = await _qmp.ExecuteAsync(socket, "query-hotpluggable-cpus", null, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        var free = slots.EnumerateArray().Where(s => !s.TryGetProperty("qom-path", out _)).Reverse().Take(count).ToList();
        foreach (var slot in free)
        {
            var args = new JsonObject { ["driver"] = slot.GetProperty("type").GetString() };
            var id = new StringBuilder("cpu");
            foreach (var prop in slot.GetProperty("props").EnumerateObject())
            {
                args[prop.Name] = prop.Value.GetInt64();
                id.Append('-').Append(prop.Value.GetInt64().ToString(CultureInfo.InvariantCulture));
            }
            args["id"] = id.ToString();
            await _qmp.ExecuteAsync(socket, "device_add", args, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        }
        return await CpuCountAsync(socket, cancellationToken).ConfigureAwait(false);
    }
}
