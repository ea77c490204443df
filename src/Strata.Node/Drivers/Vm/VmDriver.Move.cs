using System.Text.Json;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Contracts.Host;
using Strata.Node.Guest;
using Strata.Node.Supervision;
using Strata.Qemu;
using Strata.Qemu.Migration;
using Strata.Qemu.Qmp;

namespace Strata.Node.Drivers.Vm;

// Live moves between daemons (docs/move.md): the source describes its machine and disks, the target starts the same
// machine under its own supervisor with -incoming, the source's QEMU migrates to it (disks over NBD), the target confirms.
public sealed partial class VmDriver : ILiveMoveDriver
{
    private const string RootDevice = "root";
    private static readonly TimeSpan QmpConnectTimeout = TimeSpan.FromSeconds(10);

    public async Task<OutgoingMove> DescribeMoveAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        var config = ReadConfig(handle);
        if (config.Disposable)
        {
            throw StrataException.Invalid("disposable", "a disposable VM starts from its image at every run; create it on the target instead of moving it");
        }
        var socket = QmpSocket(handle);
        var snapshots = await _qmp.HumanAsync(socket, "info snapshots", cancellationToken).ConfigureAwait(false);
        if (snapshots.Contains("ID", StringComparison.Ordinal) && snapshots.Contains("TAG", StringComparison.Ordinal))
        {
            throw new StrataException(ErrorKind.Conflict,
                "the VM holds snapshots in its disk, which a live move does not carry (it copies what the guest sees); remove them with 'strata snapshot rm' first");
        }
        // Networks join only OCI boots, whose init reads the names disk: the guest can learn a new address (docs/move.md).
        var network = GuestMoveNetwork.Describe(_options.Networks, handle.InstanceId, config.Network, Path.Combine(handle.Directory, NamesDiskFileName), "VM");
        var disks = await _qmp.UseAsync(socket, QmpConnectTimeout,
            qmp => LiveMigration.DescribeDisksAsync(qmp, cancellationToken), cancellationToken).ConfigureAwait(false);
        return new OutgoingMove(JsonSerializer.Serialize(config, VmJsonContext.Default.VmConfig),
            [.. disks.Select(d => new MoveDisk(d.Device, d.Format, d.SizeBytes))], network);
    }

    public async Task<PreparedIncoming> PrepareIncomingAsync(IncomingMove move, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(move);
        _supervised.RequireSupervisor();
        var source = GuestLiveMove.ReadMachine(move.Machine, VmJsonContext.Default.VmConfig, "the moving VM's configuration");
        if (source.Version != VmConfig.CurrentVersion)
        {
            throw StrataException.Invalid("machine", $"the moving VM's configuration has version {source.Version}, this daemon reads {VmConfig.CurrentVersion}; upgrade the older daemon");
        }
        var overlay = Path.Combine(move.Directory, OverlayFileName);
        var config = source with { Overlay = overlay, Network = move.Network?.Network };
        if (config.Kind == VmKinds.Oci && !File.Exists(config.KernelPath))
        {
            // Another host: this host's guest kernel and init, which the same Strata version builds the same way.
            var (kernel, initrd) = await _guest.Assets.EnsureAsync(cancellationToken).ConfigureAwait(false);
            config = config with { KernelPath = kernel.KernelPath, InitrdPath = initrd };
        }
        if (!File.Exists(config.BaseDisk))
        {
            // The moved overlay arrives whole (base included), so it is its own base here.
            config = config with { BaseDisk = overlay, BaseFormat = "qcow2" };
        }
        var disks = GuestLiveMove.IncomingDisks(move.Disks, RootDevice, overlay, "VM");

        await using var revert = new Revert();
        // The network first: a target without it refuses before anything else of the move exists.
        var namesDisk = Path.Combine(move.Directory, NamesDiskFileName);
        var tap = await GuestMoveNetwork.JoinAsync(_options.Networks, move, namesDisk, "VM", revert, cancellationToken).ConfigureAwait(false);
        var network = tap is null ? null
            : new GuestNetwork(tap.Tap, tap.Mac, tap.Address, tap.Prefix, tap.Gateway, File.Exists(namesDisk) ? Path.GetFullPath(namesDisk) : null);
        var configPath = Path.Combine(move.Directory, ConfigFileName);
        revert.Add(() => File.Delete(configPath));
        await File.WriteAllBytesAsync(configPath, JsonSerializer.SerializeToUtf8Bytes(config, VmJsonContext.Default.VmConfig), cancellationToken).ConfigureAwait(false);
        // The moved disk holds what the VM wrote: a later start is not a first one (no template under a written disk).
        var startedOnce = Path.Combine(move.Directory, StartedOnceName);
        revert.Add(() => File.Delete(startedOnce));
        await File.WriteAllTextAsync(startedOnce, "", cancellationToken).ConfigureAwait(false);
        await IncomingVm.CreateDisksAsync(disks, "qemu-img", revert, cancellationToken).ConfigureAwait(false);

        // The details a later move checks the next target against: the same accelerator and -cpu as on the source.
        var handle = new DriverHandle { InstanceId = move.InstanceId, Directory = move.Directory, Data = GuestCpuDetails.Add([], config.Accel, config.CpuModel) };
        var argv = IncomingVm.IncomingArgv(BuildArgv(config, move.Directory, loadvmTag: null, network));
        var started = await _supervised.LaunchAsync(handle, SupervisorConfigFor(handle, argv), cancellationToken).ConfigureAwait(false);
        // The whole receiving side goes with it: QEMU by its identity, the disk, the sockets.
        revert.AddAsync(() => DeleteAsync(started, CancellationToken.None));
        var info = await _qmp.UseAsync(QmpSocket(started), QmpConnectTimeout,
            qmp => GuestLiveMove.ReceiveAsync(qmp, disks, move.ListenHost, move.Postcopy, cancellationToken), cancellationToken).ConfigureAwait(false);
        LogIncoming(move.InstanceId, started.Pid ?? 0, info.RamUri);
        revert.Success();
        if (tap is not null)
        {
            started = started with { Data = new Dictionary<string, string>(started.Data) { [NetworkKey] = tap.Network, [AddressKey] = tap.Address } };
        }
        return new PreparedIncoming(started, info);
    }

    public Task<bool> HandedOverAsync(DriverHandle handle, CancellationToken cancellationToken) =>
        _qmp.UseAsync(QmpSocket(handle), QmpConnectTimeout, qmp => GuestLiveMove.HandedOverAsync(qmp, cancellationToken), cancellationToken);

    public Task ResumeHandedOverAsync(DriverHandle handle, CancellationToken cancellationToken) =>
        _qmp.UseAsync(QmpSocket(handle), QmpConnectTimeout, async qmp =>
        {
            await GuestLiveMove.ResumeHandedOverAsync(qmp, cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    public Task ConfirmIncomingAsync(DriverHandle handle, TimeSpan timeout, CancellationToken cancellationToken) =>
        _qmp.UseAsync(QmpSocket(handle), QmpConnectTimeout, async qmp =>
        {
            await IncomingVm.WaitRunningAsync(qmp, () => !SupervisedRuntime.WorkloadAlive(handle), stopNbd: true,
                Path.Combine(handle.Directory, SerialFileName), timeout, cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    public async Task<MoveResult> MoveOutAsync(DriverHandle handle, IMoveTarget target, LiveMoveOptions options, IProgress<LiveMoveProgress>? progress,
        CancellationToken cancellationToken)
    {
        var result = await _qmp.UseAsync(QmpSocket(handle), QmpConnectTimeout,
            qmp => GuestLiveMove.MoveOutAsync(qmp, target, options, progress, cancellationToken), cancellationToken).ConfigureAwait(false);
        LogMovedOut(handle.InstanceId, result.TotalSeconds, result.DowntimeMs, result.RamBytes, result.DiskBytes);
        return result;
    }
}
