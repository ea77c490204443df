using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Strata.Contracts;
using Strata.Contracts.Host;
using Strata.Qemu.Qmp;

namespace Strata.Qemu.Migration;

/// <summary>A local disk the target receives over NBD: the source's drive id, and the file the target creates for it.</summary>
public sealed record IncomingDisk(string Device, string Path, string Format, long SizeBytes);

/// <summary>What the target side of a live migration starts.</summary>
public sealed record IncomingRequest
{
    /// <summary>
    /// The target's QEMU as any builder planned it: the same machine, CPU model, vCPUs, RAM and devices as the source,
    /// with the target's own paths (sockets, output files, disks). <c>-incoming</c> is added here.
    /// </summary>
    public required QemuLaunchPlan Plan { get; init; }

    /// <summary>The source's machine; when given, a target that differs is refused before anything starts.</summary>
    public MachineIdentity? Source { get; init; }

    /// <summary>Local disks to receive: each is created empty (same size and format) and exported writable over NBD.</summary>
    public IReadOnlyList<IncomingDisk> Disks { get; init; } = [];

    /// <summary>Where the RAM stream is received.</summary>
    public required MigrationChannel Ram { get; init; }

    /// <summary>Where the NBD server for <see cref="Disks"/> listens; required when there are disks.</summary>
    public MigrationChannel? Nbd { get; init; }

    /// <summary>Must match the source's <see cref="MigrationOptions.Postcopy"/> (both sides enable the capability).</summary>
    public bool Postcopy { get; init; }

    public string QemuImg { get; init; } = "qemu-img";
}

/// <summary>The target side as the source's driver sees it, so it can be local (<see cref="IncomingVm"/>) or another daemon.</summary>
public interface IMigrationTarget
{
    /// <summary>The URI the source passes to <c>migrate</c>.</summary>
    string RamUri { get; }

    /// <summary>Where the target's NBD server listens; null without disks.</summary>
    MigrationChannel? Nbd { get; }

    /// <summary>The devices the target exports (each export is named after its device).</summary>
    IReadOnlyList<string> Disks { get; }

    /// <summary>Completes when the target QEMU is gone.</summary>
    Task Exited { get; }

    /// <summary>After the source completed: waits until the guest runs on the target, then stops the NBD server.</summary>
    Task ConfirmRunningAsync(TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>Kills the target QEMU and removes the disks it received; the source keeps the guest.</summary>
    Task DiscardAsync();

    /// <summary>
    /// Set when the confirmation's outcome is unknown (the target stopped answering after the switchover): the guest may
    /// run there, so a failed move neither discards the target nor resumes the source.
    /// </summary>
    bool MayHoldGuest => false;
}

/// <summary>
/// The target of a live migration on this host: the disks created empty, QEMU started with <c>-incoming defer</c>,
/// an NBD server exporting the disks writable (for the source's <c>blockdev-mirror</c>), then <c>migrate-incoming</c>.
/// Any step failing undoes the earlier ones.
/// </summary>
public sealed class IncomingVm : IMigrationTarget
{
    private readonly IReadOnlyList<IncomingDisk> _disks;
    private readonly Task<VmExit> _exited;

    private readonly IReadOnlyList<string> _sockets;
    private readonly string? _createdDirectory;

    private IncomingVm(QemuVm vm, IReadOnlyList<IncomingDisk> disks, string ramUri, MigrationChannel? nbd, IReadOnlyList<string> sockets, string? createdDirectory)
    {
        Vm = vm;
        _disks = disks;
        Disks = [.. disks.Select(d => d.Device)];
        RamUri = ramUri;
        Nbd = nbd;
        _sockets = sockets;
        _createdDirectory = createdDirectory;
        _exited = vm.WaitAsync(CancellationToken.None);
    }

    /// <summary>The target's QEMU; once the move succeeded it is the guest, and the caller owns it.</summary>
    public QemuVm Vm { get; }

    public string RamUri { get; }
    public MigrationChannel? Nbd { get; }
    public IReadOnlyList<string> Disks { get; }
    public Task Exited => _exited;

    /// <summary>The argv of a target: the planned one with <c>-incoming defer</c> (the URI comes later, over QMP).</summary>
    public static IReadOnlyList<string> IncomingArgv(IReadOnlyList<string> argv)
    {
        ArgumentNullException.ThrowIfNull(argv);
        if (argv.Contains("-incoming"))
        {
            throw StrataException.Invalid("argv", "the target's argv already has -incoming; plan it as a normal start");
        }
        return [.. argv, "-incoming", "defer"];
    }

    public static async Task<IncomingVm> StartAsync(IncomingRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var target = MachineIdentity.FromArgv(request.Plan.Argv);
        if (request.Source is not null)
        {
            target.EnsureSameAs(request.Source);
        }
        if (request.Disks.Count > 0 && request.Nbd is null)
        {
            throw StrataException.Invalid("nbd", "the target receives local disks but has no NBD address to listen on");
        }
        CheckDisks(request.Disks);

        await using var revert = new Revert();
        // What this side creates goes again when it is discarded: the disks, the unix sockets and, if it made it, the directory.
        var sockets = new[] { request.Ram.UnixPath, request.Nbd?.UnixPath }.OfType<string>().ToList();
        revert.Add(() => DeleteSockets(sockets));
        var createdDirectory = Directory.Exists(request.Plan.Directory) ? null : request.Plan.Directory;
        if (createdDirectory is not null)
        {
            revert.Add(() => DeleteDirectory(createdDirectory));
        }
        await CreateDisksAsync(request.Disks, request.QemuImg, revert, cancellationToken).ConfigureAwait(false);

        var vm = await QemuVm.StartAsync(request.Plan with { Argv = IncomingArgv(request.Plan.Argv) }, cancellationToken).ConfigureAwait(false);
        revert.AddAsync(async () => await vm.DisposeAsync().ConfigureAwait(false));
        var qmp = await vm.GetQmpAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var (ramUri, nbd) = await ReceiveAsync(qmp, request.Disks, request.Ram, request.Nbd, request.Postcopy, cancellationToken).ConfigureAwait(false);
            var incoming = new IncomingVm(vm, request.Disks, ramUri, nbd, sockets, createdDirectory);
            revert.Success();
            return incoming;
        }
        catch (StrataException) when (vm.HasExited)
        {
            var exit = await vm.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            throw new StrataException(ErrorKind.Unavailable, $"the target QEMU exited while it was prepared: {exit.Reason}");
        }
    }

    /// <summary>Refuses disks the target cannot create: no device, a format other than raw or qcow2, no size, or a file already there.</summary>
    public static void CheckDisks(IReadOnlyList<IncomingDisk> disks)
    {
        ArgumentNullException.ThrowIfNull(disks);
        foreach (var d in disks)
        {
            if (d.Format is not ("raw" or "qcow2") || d.SizeBytes <= 0 || string.IsNullOrWhiteSpace(d.Device))
            {
                throw StrataException.Invalid("disks", $"disk {d.Device} ({d.Format}, {d.SizeBytes} bytes) needs a device, raw or qcow2 and a size");
            }
            if (File.Exists(d.Path))
            {
                throw new StrataException(ErrorKind.Conflict, $"the target disk {d.Path} already exists; a move creates its disks itself (remove it or pick another directory)");
            }
        }
    }

    /// <summary>Creates each disk empty, with the source's size and format; each one's deletion is registered on <paramref name="revert"/>.</summary>
    public static async Task CreateDisksAsync(IReadOnlyList<IncomingDisk> disks, string qemuImg, Revert revert, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(disks);
        ArgumentNullException.ThrowIfNull(revert);
        foreach (var d in disks)
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(d.Path))!);
            var created = d.Path;
            revert.Add(() => File.Delete(created));
            var made = await HostTool.RunAsync(qemuImg,
                ["create", "-q", "-f", d.Format, d.Path, d.SizeBytes.ToString(CultureInfo.InvariantCulture)],
                new HostToolOptions { MissingHint = "install it with 'apt-get install qemu-utils'", Timeout = TimeSpan.FromMinutes(1) },
                cancellationToken).ConfigureAwait(false);
            if (!made.Succeeded)
            {
                throw new StrataException(ErrorKind.Internal, $"qemu-img could not create the target disk {d.Path}: {made.Error}");
            }
        }
    }

    /// <summary>
    /// On a QEMU started with <c>-incoming defer</c>: postcopy when asked, an NBD server exporting <paramref name="disks"/>
    /// writable, then <c>migrate-incoming</c>. Returns the URI the source migrates to and where the NBD server listens.
    /// </summary>
    public static async Task<(string RamUri, MigrationChannel? Nbd)> ReceiveAsync(QmpClient qmp, IReadOnlyList<IncomingDisk> disks,
        MigrationChannel ram, MigrationChannel? nbd, bool postcopy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(qmp);
        ArgumentNullException.ThrowIfNull(disks);
        ArgumentNullException.ThrowIfNull(ram);
        try
        {
            if (postcopy)
            {
                await LiveMigration.SetCapabilitiesAsync(qmp, new Dictionary<string, bool> { ["postcopy-ram"] = true }, cancellationToken).ConfigureAwait(false);
            }
            MigrationChannel? listening = null;
            if (disks.Count > 0)
            {
                listening = await StartNbdServerAsync(qmp, nbd ?? throw StrataException.Invalid("nbd", "the target receives local disks but has no NBD address to listen on"),
                    cancellationToken).ConfigureAwait(false);
                await ExportDisksAsync(qmp, disks, cancellationToken).ConfigureAwait(false);
            }
            await qmp.ExecuteAsync("migrate-incoming", new JsonObject { ["uri"] = ram.ToUri() }, cancellationToken).ConfigureAwait(false);
            var ramUri = ram.UnixPath is null && ram.Port == 0
                ? await ListeningUriAsync(qmp, ram, cancellationToken).ConfigureAwait(false)
                : ram.ToUri();
            return (ramUri, listening);
        }
        catch (QmpException e)
        {
            throw e.ToStrataException("preparing the migration target");
        }
    }

    public async Task ConfirmRunningAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var qmp = await Vm.GetQmpAsync(cancellationToken).ConfigureAwait(false);
        await WaitRunningAsync(qmp, () => Vm.HasExited, _disks.Count > 0, Vm.LaunchPlan.SerialLog, timeout, cancellationToken).ConfigureAwait(false);
        DeleteSockets(_sockets);
    }

    /// <summary>
    /// After the source completed: waits until the target QEMU reports <c>running</c> (failing when it exits or settles
    /// in another state), then stops its NBD server when it received disks.
    /// </summary>
    public static async Task WaitRunningAsync(QmpClient qmp, Func<bool> exited, bool stopNbd, string? serialLog, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(qmp);
        ArgumentNullException.ThrowIfNull(exited);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var status = "unknown";
        try
        {
            while (true)
            {
                if (exited())
                {
                    throw new StrataException(ErrorKind.Unavailable, "the target QEMU exited instead of running the guest");
                }
                status = (await qmp.ExecuteAsync("query-status", null, deadline.Token).ConfigureAwait(false)).GetProperty("status").GetString() ?? "";
                if (status == "running")
                {
                    break;
                }
                if (status is not ("inmigrate" or "paused" or "postmigrate" or "restore-vm" or "finish-migrate"))
                {
                    throw new StrataException(ErrorKind.Unavailable, $"the target is '{status}' after the migration, not running{(serialLog is null ? "" : "; see " + serialLog)}");
                }
                await Task.Delay(10, deadline.Token).ConfigureAwait(false);
            }
            if (stopNbd)
            {
                await qmp.ExecuteAsync("nbd-server-stop", null, deadline.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new StrataException(ErrorKind.Unavailable, $"the target did not start running within {timeout.TotalSeconds:0.#} s after the migration (it is '{status}')");
        }
        catch (QmpException e)
        {
            throw e.ToStrataException("starting the guest on the target");
        }
    }

    public async Task DiscardAsync()
    {
        await Vm.KillAsync().ConfigureAwait(false);
        foreach (var d in _disks)
        {
            File.Delete(d.Path);
        }
        DeleteSockets(_sockets);
        if (_createdDirectory is not null)
        {
            DeleteDirectory(_createdDirectory);
        }
    }

    private static void DeleteSockets(IEnumerable<string> sockets)
    {
        foreach (var socket in sockets)
        {
            File.Delete(socket);
        }
    }

    private static void DeleteDirectory(string directory)
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task<MigrationChannel> StartNbdServerAsync(QmpClient qmp, MigrationChannel channel, CancellationToken cancellationToken)
    {
        if (channel.UnixPath is not null)
        {
            File.Delete(channel.UnixPath);
            await qmp.ExecuteAsync("nbd-server-start", new JsonObject
            {
                ["addr"] = new JsonObject { ["type"] = "unix", ["data"] = new JsonObject { ["path"] = channel.UnixPath } },
            }, cancellationToken).ConfigureAwait(false);
            return channel;
        }
        // nbd-server-start does not say which port it took, so a free one is picked here; another process can take it
        // in between, hence a few tries.
        for (var attempt = 1; ; attempt++)
        {
            var port = channel.Port != 0 ? channel.Port : FreeTcpPort(channel.Host!);
            try
            {
                await qmp.ExecuteAsync("nbd-server-start", new JsonObject
                {
                    ["addr"] = new JsonObject
                    {
                        ["type"] = "inet",
                        ["data"] = new JsonObject { ["host"] = channel.Host, ["port"] = port.ToString(CultureInfo.InvariantCulture) },
                    },
                }, cancellationToken).ConfigureAwait(false);
                return MigrationChannel.Tcp(channel.Host!, port);
            }
            catch (QmpException e) when (channel.Port == 0 && attempt < 5 && e.Description.Contains("in use", StringComparison.OrdinalIgnoreCase))
            {
            }
        }
    }

    private static int FreeTcpPort(string host)
    {
        var address = IPAddress.TryParse(host, out var a) ? a : Dns.GetHostAddresses(host)[0];
        using var listener = new TcpListener(address, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task ExportDisksAsync(QmpClient qmp, IReadOnlyList<IncomingDisk> disks, CancellationToken cancellationToken)
    {
        var blocks = await qmp.ExecuteAsync("query-block", null, cancellationToken).ConfigureAwait(false);
        foreach (var d in disks)
        {
            var node = blocks.EnumerateArray()
                .Where(b => b.GetProperty("device").GetString() == d.Device && b.TryGetProperty("inserted", out _))
                .Select(b => b.GetProperty("inserted").GetProperty("node-name").GetString())
                .FirstOrDefault()
                ?? throw StrataException.Invalid("disks", $"the target QEMU has no drive '{d.Device}'; its argv must attach the same drives as the source");
            // An NBD export activates the incoming (still inactive) image, so the source's mirror can write to it.
            await qmp.ExecuteAsync("block-export-add", new JsonObject
            {
                ["type"] = "nbd",
                ["id"] = "strata-move-" + d.Device,
                ["node-name"] = node,
                ["name"] = d.Device,
                ["writable"] = true,
            }, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<string> ListeningUriAsync(QmpClient qmp, MigrationChannel ram, CancellationToken cancellationToken)
    {
        var info = await qmp.ExecuteAsync("query-migrate", null, cancellationToken).ConfigureAwait(false);
        if (info.TryGetProperty("socket-address", out var addresses))
        {
            foreach (var a in addresses.EnumerateArray())
            {
                if (a.TryGetProperty("port", out var p) && int.TryParse(p.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var port))
                {
                    return MigrationChannel.Tcp(ram.Host!, port).ToUri();
                }
            }
        }
        throw new StrataException(ErrorKind.Internal, $"the target QEMU listens for the migration but did not say on which port (query-migrate: {info.GetRawText()})");
    }
}
