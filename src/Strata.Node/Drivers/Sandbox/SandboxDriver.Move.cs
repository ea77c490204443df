using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Contracts.Host;
using Strata.Node.Guest;
using Strata.Node.Supervision;
using Strata.Qemu;
using Strata.Qemu.Migration;
using Strata.Qemu.Qmp;
using Strata.Qemu.Templates;

namespace Strata.Node.Drivers.Sandbox;

/// <summary>
/// Live moves of a sandbox between daemons (docs/move.md): QEMU 7.2's <c>microvm</c> migrates (its virtio-mmio disk,
/// serial ports and balloon carry their state), so a sandbox moves as a VM does: the target starts the same machine
/// with <c>-incoming</c> under its own supervisor, the overlay goes over NBD, the RAM over the migration stream, and the
/// workload runs on without a restart. A sandbox restored from its image's template keeps that machine (the setup port,
/// its RAM in a memory backend of the same id), which the target plans with its RAM in anonymous memory.
/// </summary>
public sealed partial class SandboxDriver : ILiveMoveDriver
{
    private const string RootDevice = "drive0";
    /// <summary>What the result says about the mode: a sandbox moves live whenever it moves.</summary>
    internal const string LiveReason = "QEMU's microvm machine migrates, so the sandbox moves live";
    private static readonly TimeSpan MoveQmpTimeout = TimeSpan.FromSeconds(10);

    public async Task<OutgoingMove> DescribeMoveAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handle);
        var network = GuestMoveNetwork.Describe(_options.Networks, handle.InstanceId, handle.Data.GetValueOrDefault(NetworkKey),
            Path.Combine(handle.Directory, NamesDiskFileName), "sandbox");
        var workload = SandboxWorkload.Load(handle.Directory);
        if (workload.Mounts.Count > 0)
        {
            throw StrataException.Invalid("mounts", MountsNotLive);
        }
        var template = handle.Data.TryGetValue(TemplateDataKey, out var how) && how.StartsWith("template ", StringComparison.Ordinal);
        var qmp = await QmpClient.ConnectAsync(Path.Combine(handle.Directory, QmpSocketName), MoveQmpTimeout, cancellationToken).ConfigureAwait(false);
        await using (qmp.ConfigureAwait(false))
        {
            var disks = await LiveMigration.DescribeDisksAsync(qmp, cancellationToken).ConfigureAwait(false);
            var machine = new SandboxMoveMachine
            {
                Workload = workload,
                FromTemplate = template,
                Image = handle.Data.GetValueOrDefault("image") ?? workload.ImageDigest,
                Started = how ?? "",
            };
            return new OutgoingMove(JsonSerializer.Serialize(machine, SandboxMoveJsonContext.Default.SandboxMoveMachine),
                [.. disks.Select(d => new MoveDisk(d.Device, d.Format, d.SizeBytes))], network);
        }
    }

    public async Task<PreparedIncoming> PrepareIncomingAsync(IncomingMove move, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(move);
        _supervised.RequireSupervisor();
        var source = GuestLiveMove.ReadMachine(move.Machine, SandboxMoveJsonContext.Default.SandboxMoveMachine, "the moving sandbox's description");
        if (source.Version != SandboxMoveMachine.CurrentVersion || source.Workload.Version != SandboxWorkload.CurrentVersion)
        {
            throw StrataException.Invalid("machine", "the moving sandbox was described by another Strata version; upgrade the older daemon");
        }
        var dir = move.Directory;
        var overlay = Path.Combine(dir, OverlayFileName);
        var disks = GuestLiveMove.IncomingDisks(move.Disks, RootDevice, overlay, "sandbox");
        // The overlay arrives whole (base included): without the image's base disk here, later starts boot from it cold.
        var workload = File.Exists(source.Workload.BaseDisk) ? source.Workload : source.Workload with { BaseDisk = overlay, NoTemplate = true };

        await using var revert = new Revert();
        // The network first: a target without it refuses before anything else of the move exists.
        var network = await GuestMoveNetwork.JoinAsync(_options.Networks, move, Path.Combine(dir, NamesDiskFileName), "sandbox", revert, cancellationToken).ConfigureAwait(false);
        var workloadPath = Path.Combine(dir, SandboxWorkload.FileName);
        revert.Add(() => File.Delete(workloadPath));
        workload.Save(dir);
        await IncomingVm.CreateDisksAsync(disks, "qemu-img", revert, cancellationToken).ConfigureAwait(false);

        var assets = await EnsureAssetsAsync(cancellationToken).ConfigureAwait(false);
        var options = GuestOptions(assets, workload, dir, network, exports: []);
        if (source.FromTemplate)
        {
            options = GuestTemplate.ForIncomingMove(options, Path.Combine(dir, SetupSocketName));
        }
        var plan = QemuVm.Plan(options);
        var handle = new DriverHandle { InstanceId = move.InstanceId, Directory = dir };
        var startedAt = DateTimeOffset.UtcNow;
        var started = await _supervised.LaunchAsync(handle, SupervisorConfigFor(dir, WrapperScript, IncomingVm.IncomingArgv(plan.Argv)), cancellationToken).ConfigureAwait(false);
        // The whole receiving side goes with it: QEMU by its identity, the overlay, the sockets.
        revert.AddAsync(() => DeleteAsync(started, CancellationToken.None));
        var qmp = await QmpClient.ConnectAsync(Path.Combine(dir, QmpSocketName), MoveQmpTimeout, cancellationToken).ConfigureAwait(false);
        IncomingMoveInfo info;
        await using (qmp.ConfigureAwait(false))
        {
            info = await GuestLiveMove.ReceiveAsync(qmp, disks, move.ListenHost, move.Postcopy, cancellationToken).ConfigureAwait(false);
        }
        LogIncoming(move.InstanceId, started.Pid ?? 0, info.RamUri);
        revert.Success();
        var data = new Dictionary<string, string>(started.Data)
        {
            ["image"] = source.Image,
            [StartedAtKey] = startedAt.ToString("O", CultureInfo.InvariantCulture),
            [TemplateDataKey] = source.Started.Length > 0 ? $"{source.Started} (moved live)" : "moved live",
        };
        GuestCpuDetails.Add(data, assets.Accel.Accel, workload.CpuModel);
        if (network is not null)
        {
            data[NetworkKey] = network.Network;
            data[AddressKey] = network.Address;
        }
        return new PreparedIncoming(started with { Data = data }, info);
    }

    public async Task ConfirmIncomingAsync(DriverHandle handle, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handle);
        var qmp = await QmpClient.ConnectAsync(Path.Combine(handle.Directory, QmpSocketName), MoveQmpTimeout, cancellationToken).ConfigureAwait(false);
        await using (qmp.ConfigureAwait(false))
        {
            await IncomingVm.WaitRunningAsync(qmp, () => !SupervisedRuntime.WorkloadAlive(handle), stopNbd: true,
                Path.Combine(handle.Directory, QemuLogName), timeout, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<bool> HandedOverAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handle);
        var qmp = await QmpClient.ConnectAsync(Path.Combine(handle.Directory, QmpSocketName), MoveQmpTimeout, cancellationToken).ConfigureAwait(false);
        await using (qmp.ConfigureAwait(false))
        {
            return await GuestLiveMove.HandedOverAsync(qmp, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task ResumeHandedOverAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handle);
        var qmp = await QmpClient.ConnectAsync(Path.Combine(handle.Directory, QmpSocketName), MoveQmpTimeout, cancellationToken).ConfigureAwait(false);
        await using (qmp.ConfigureAwait(false))
        {
            await GuestLiveMove.ResumeHandedOverAsync(qmp, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<MoveResult> MoveOutAsync(DriverHandle handle, IMoveTarget target, LiveMoveOptions options, IProgress<LiveMoveProgress>? progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handle);
        var qmp = await QmpClient.ConnectAsync(Path.Combine(handle.Directory, QmpSocketName), MoveQmpTimeout, cancellationToken).ConfigureAwait(false);
        await using (qmp.ConfigureAwait(false))
        {
            var result = await GuestLiveMove.MoveOutAsync(qmp, target, options, progress, cancellationToken).ConfigureAwait(false);
            LogMovedOut(handle.InstanceId, result.TotalSeconds, result.DowntimeMs, result.RamBytes, result.DiskBytes);
            return result with { ModeReason = LiveReason };
        }
    }

    /// <summary>
    /// At a daemon's start, for a sandbox whose QEMU kept running: a live move the previous daemon drove and did not
    /// finish is undone (migration cancelled, disk copy ended, guest resumed); the guest stays here (docs/move.md).
    /// A QMP socket that does not answer is left as it is: the sandbox is reported running either way.
    /// </summary>
    private async Task AbandonUnfinishedMoveAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        try
        {
            var qmp = await QmpClient.ConnectAsync(Path.Combine(handle.Directory, QmpSocketName), TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            await using (qmp.ConfigureAwait(false))
            {
                if (await LiveMigration.AbandonAsync(qmp, cancellationToken).ConfigureAwait(false) is { } undone)
                {
                    LogMoveAbandoned(handle.InstanceId, undone);
                }
            }
        }
        catch (Exception e) when (e is StrataException or QmpException)
        {
            LogMoveCheckFailed(handle.InstanceId, e.Message);
        }
    }

    [LoggerMessage(EventId = 3433, Level = LogLevel.Warning, Message = "sandbox {Instance}: QEMU runs but could not be asked about an unfinished live move: {Why}")]
    private partial void LogMoveCheckFailed(string instance, string why);

    [LoggerMessage(EventId = 3430, Level = LogLevel.Information, Message = "sandbox {Instance}: receiving a live move, QEMU pid {Pid} waits on {RamUri}")]
    private partial void LogIncoming(string instance, int pid, string ramUri);

    [LoggerMessage(EventId = 3431, Level = LogLevel.Information,
        Message = "sandbox {Instance} moved out live in {Seconds:0.00} s: downtime {DowntimeMs:0} ms, {RamBytes} bytes of RAM, {DiskBytes} bytes of disk")]
    private partial void LogMovedOut(string instance, double seconds, double downtimeMs, long ramBytes, long diskBytes);

    [LoggerMessage(EventId = 3432, Level = LogLevel.Warning, Message = "sandbox {Instance}: a live move the previous daemon did not finish was undone: {Undone}")]
    private partial void LogMoveAbandoned(string instance, string undone);
}

/// <summary>A moving sandbox as its source describes it to the target (<see cref="IncomingMove.Machine"/>).</summary>
internal sealed record SandboxMoveMachine
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;
    public required SandboxWorkload Workload { get; init; }
    /// <summary>The guest runs restored from its image's template: the target plans that machine (setup port, memory backend).</summary>
    public bool FromTemplate { get; init; }
    public required string Image { get; init; }
    /// <summary>How the guest started on the source (the handle's <c>template</c> value).</summary>
    public string Started { get; init; } = "";
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(SandboxMoveMachine))]
internal sealed partial class SandboxMoveJsonContext : JsonSerializerContext;
