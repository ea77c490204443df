using System.Globalization;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Strata.Contracts;
using Strata.Qemu.Guest;
using Strata.Qemu.Qmp;

namespace Strata.Qemu.Templates;

/// <summary>
/// A booted guest saved to files and started again from them (docs/sandbox.md#templates). The guest RAM lives in a
/// file: the template boot maps it shared (so the file holds the guest's memory when it is saved) and every start
/// from the template maps it privately (copy-on-write: pages the clone never writes stay shared in the host's page
/// cache between all clones). The migration stream then carries only device state (capability
/// <c>x-ignore-shared</c>: shared RAM is not copied), a few tens of KiB.
/// </summary>
public static class GuestTemplate
{
    public const string MemoryFileName = "memory";
    public const string StateFileName = "state";
    /// <summary>The socket, in an instance's directory, over which a guest started from a template (or moved in live) is sent its own parameters.</summary>
    public const string SetupSocketName = "setup.sock";
    /// <summary>The kernel's setup sectors alone (<see cref="WriteKernelSetup"/>), what a start from the template boots with.</summary>
    public const string KernelSetupFileName = "kernel-setup";
    private const string MemoryBackendId = "tmem";
    /// <summary>
    /// Under TCG, the translated-code buffer of a start from a template, in MiB: a restored busybox guest had translated
    /// ≈ 26 MiB of code once idle, which stays resident for as long as QEMU runs, and QEMU's default buffer (1 GiB) lets
    /// that grow without bound. Cold boots keep the default (their boot alone translates ≈ 50 MiB).
    /// </summary>
    public const int RestoreTcgCodeBufferMiB = 32;

    /// <summary>
    /// A start from the template in <paramref name="templateDirectory"/>: <paramref name="options"/> (the instance's
    /// own devices and files) with the template's RAM mapped privately, <c>-incoming defer</c>, the setup port at
    /// <paramref name="setupSocket"/>, TCG's code buffer at <see cref="RestoreTcgCodeBufferMiB"/>, and the kernel's setup sectors in place of the kernel with no initramfs. QEMU keeps
    /// <c>-kernel</c> and <c>-initrd</c> in its own memory for the guest's firmware interface for as long as it runs
    /// (≈ 15 MiB per sandbox for Debian's kernel), and a restored guest booted long ago: it never reads them again.
    /// The setup sectors still describe the same kernel, so QEMU lays out the machine as it did for the template boot.
    /// </summary>
    public static GuestVmOptions ForRestore(GuestVmOptions options, string templateDirectory, string setupSocket, string? memoryCopy = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var setup = Path.Combine(templateDirectory, KernelSetupFileName);
        var stub = File.Exists(setup);
        if (options.Mounts.Count > 0 && memoryCopy is null)
        {
            throw new ArgumentException("a restore with mounts needs its own copy of the template's memory (vhost-user maps guest RAM shared)", nameof(memoryCopy));
        }
        var memory = options.Mounts.Count > 0
            ? MemoryArguments(memoryCopy!, options.MemoryMiB, shared: true)
            : MemoryArguments(Path.Combine(templateDirectory, MemoryFileName), options.MemoryMiB, shared: false);
        return options with
        {
            SetupSocket = setupSocket,
            KernelPath = stub ? setup : options.KernelPath,
            InitrdPath = stub ? null : options.InitrdPath,
            TcgCodeBufferMiB = RestoreTcgCodeBufferMiB,
            HotplugSlots = options.Mounts.Count,
            MountsHotplugged = options.Mounts.Count > 0,
            ExtraQemuArguments = [.. options.ExtraQemuArguments, .. memory, "-incoming", "defer"],
        };
    }

    /// <summary>
    /// The receiving side of a live move of a guest that started from a template (<see cref="ForRestore"/>): the same
    /// machine (the setup port at <paramref name="setupSocket"/>, TCG's code buffer, a memory backend of the same id, so
    /// the RAM block has the same name) with its RAM in anonymous memory, since the whole RAM arrives over the move's
    /// stream and this host may not hold the template. The caller adds <c>-incoming</c>.
    /// </summary>
    public static GuestVmOptions ForIncomingMove(GuestVmOptions options, string setupSocket)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options with
        {
            SetupSocket = setupSocket,
            TcgCodeBufferMiB = RestoreTcgCodeBufferMiB,
            ExtraQemuArguments =
            [
                .. options.ExtraQemuArguments,
                "-machine", "memory-backend=" + MemoryBackendId,
                "-object", string.Create(CultureInfo.InvariantCulture, $"memory-backend-ram,id={MemoryBackendId},size={GuestRam.Size(options.MemoryMiB)}"),
            ],
        };
    }

    /// <summary>
    /// A restore with <c>-v</c> mounts maps its RAM shared (virtiofsd, a vhost-user back end, reads and writes guest RAM
    /// through the same file), so it cannot map the template's file privately as other restores do: it gets its own
    /// copy of the template's memory in <paramref name="destination"/> (on tmpfs), holes kept as holes. QEMU keeps the
    /// file open, so the caller may unlink it once QEMU runs.
    /// </summary>
    public static async Task CopyMemoryAsync(string templateDirectory, string destination, CancellationToken ct)
    {
        var source = Path.Combine(templateDirectory, MemoryFileName);
        using var from = File.OpenHandle(source, FileMode.Open, FileAccess.Read);
        using var stream = new FileStream(destination, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        var to = stream.SafeFileHandle;
        var length = RandomAccess.GetLength(from);
        RandomAccess.SetLength(to, length);
        var buffer = new byte[1 << 20];
        long offset = 0;
        while (offset < length)
        {
            var data = SparseFile.NextData(from, offset);
            if (data < 0 || data >= length)
            {
                break;
            }
            var hole = Math.Min(SparseFile.NextHole(from, data), length);
            for (var at = data; at < hole;)
            {
                ct.ThrowIfCancellationRequested();
                var n = await RandomAccess.ReadAsync(from, buffer.AsMemory(0, (int)Math.Min(buffer.Length, hole - at)), at, ct).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }
                await RandomAccess.WriteAsync(to, buffer.AsMemory(0, n), at, ct).ConfigureAwait(false);
                at += n;
            }
            offset = hole;
        }
    }

    /// <summary>
    /// Writes the setup sectors of the bzImage <paramref name="kernel"/> (its boot header and real-mode setup, ≈ 20 KiB)
    /// to <paramref name="destination"/>; false (nothing written) when it is not a bzImage, and restores then load the
    /// whole kernel.
    /// </summary>
    public static bool WriteKernelSetup(string kernel, string destination)
    {
        var head = new byte[0x208];
        using (var f = File.OpenRead(kernel))
        {
            if (f.ReadAtLeast(head, head.Length, throwOnEndOfStream: false) < head.Length
                || BitConverter.ToUInt32(head, 0x202) != 0x53726448) // "HdrS": the Linux x86 boot protocol's magic
            {
                return false;
            }
            var sectors = head[0x1f1] == 0 ? 4 : head[0x1f1];
            var setup = new byte[(sectors + 1) * 512];
            f.Position = 0;
            if (f.ReadAtLeast(setup, setup.Length, throwOnEndOfStream: false) < setup.Length)
            {
                return false;
            }
            File.WriteAllBytes(destination, setup);
        }
        return true;
    }

    /// <summary>QEMU arguments of the template boot: RAM in <paramref name="memoryFile"/>, mapped shared.</summary>
    public static IReadOnlyList<string> BootArguments(string memoryFile, int memoryMiB) => MemoryArguments(memoryFile, memoryMiB, shared: true);

    /// <summary>
    /// QEMU arguments of a start from a template: its RAM file mapped privately, and an incoming migration that
    /// <see cref="RestoreAsync"/> starts over QMP (the capability must be set first, which the command line cannot).
    /// </summary>
    public static IReadOnlyList<string> RestoreArguments(string memoryFile, int memoryMiB) =>
        [.. MemoryArguments(memoryFile, memoryMiB, shared: false), "-incoming", "defer"];

    private static string[] MemoryArguments(string memoryFile, int memoryMiB, bool shared) =>
    [
        "-machine", "memory-backend=" + MemoryBackendId,
        "-object", string.Create(CultureInfo.InvariantCulture,
            $"memory-backend-file,id={MemoryBackendId},size={GuestRam.Size(memoryMiB)},mem-path={QemuCommandLine.Escape(memoryFile)},share={(shared ? "on" : "off")}"),
    ];

    /// <summary>
    /// Saves the running guest's device state to <paramref name="stateFile"/> (its RAM is already in the shared memory
    /// file). The guest is paused when this returns; the caller ends QEMU.
    /// </summary>
    public static async Task SaveAsync(QmpClient qmp, string stateFile, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(qmp);
        await IgnoreSharedAsync(qmp, ct).ConfigureAwait(false);
        await qmp.ExecuteAsync("migrate", new JsonObject { ["uri"] = "exec:cat > " + ShellQuote(stateFile) }, ct).ConfigureAwait(false);
        while (true)
        {
            var status = await qmp.ExecuteAsync("query-migrate", null, ct).ConfigureAwait(false);
            var state = status.TryGetProperty("status", out var s) ? s.GetString() : null;
            if (state == "completed")
            {
                return;
            }
            if (state is "failed" or "cancelled")
            {
                var why = status.TryGetProperty("error-desc", out var d) ? d.GetString() : state;
                throw new StrataException(ErrorKind.Internal, $"saving the guest failed: {why}");
            }
            await Task.Delay(10, ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Loads <paramref name="stateFile"/> into a QEMU started with <see cref="RestoreArguments"/> and returns once the
    /// guest runs. Throws (with QEMU's reason where it gave one) when the state does not load: QEMU then exits.
    /// </summary>
    public static async Task RestoreAsync(QmpClient qmp, string stateFile, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(qmp);
        await IgnoreSharedAsync(qmp, ct).ConfigureAwait(false);
        await qmp.ExecuteAsync("migrate-incoming", new JsonObject { ["uri"] = "exec:cat " + ShellQuote(stateFile) }, ct).ConfigureAwait(false);
        while (true)
        {
            string? state;
            try
            {
                var status = await qmp.ExecuteAsync("query-status", null, ct).ConfigureAwait(false);
                state = status.TryGetProperty("status", out var s) ? s.GetString() : null;
            }
            catch (StrataException e) when (!ct.IsCancellationRequested)
            {
                throw new StrataException(ErrorKind.Unavailable, $"QEMU ended while loading the template ({e.Message})", inner: e);
            }
            if (state == "running")
            {
                return;
            }
            if (state is not ("inmigrate" or "prelaunch" or "restore-vm"))
            {
                throw new StrataException(ErrorKind.Unavailable, $"the guest did not resume from the template (QEMU's state: {state})");
            }
            await Task.Delay(5, ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A start from the template, as quickly as the guest can take it: connects to QEMU's QMP socket (polled every
    /// 2 ms while QEMU starts), starts loading <paramref name="stateFile"/> and, without waiting for the load to end,
    /// sends <paramref name="setupLine"/> on the setup port: QEMU holds it in the socket until the resumed guest reads it
    /// (the guest waits in its read loop when it is saved), so the guest runs its workload's setup the moment it
    /// resumes. Returns when the guest confirmed its parameters (<see cref="SendSetupAsync"/>); throws when QEMU refuses
    /// the state (it exits, and the setup port closes) or the guest does not confirm within <paramref name="budget"/>.
    /// </summary>
    public static async Task ResumeAsync(string qmpSocket, string stateFile, string setupSocket, string setupLine, TimeSpan budget, CancellationToken ct,
        IReadOnlyList<GuestMount>? plug = null)
    {
        var qmp = await QmpClient.ConnectAsync(qmpSocket, TimeSpan.FromSeconds(10), ct, retryDelay: TimeSpan.FromMilliseconds(2)).ConfigureAwait(false);
        Mark("guest qmp connected");
        await using (qmp.ConfigureAwait(false))
        {
            // Both commands in one go: QMP runs them in order (the capability is set before the load starts), and a start
            // waits for one round trip instead of two.
            var capability = IgnoreSharedAsync(qmp, ct);
            var load = qmp.ExecuteAsync("migrate-incoming", new JsonObject { ["uri"] = "exec:cat " + ShellQuote(stateFile) }, ct);
            await Task.WhenAll(capability, load).ConfigureAwait(false); // a refused capability is the error reported
            Mark("guest state load started");
            if (plug is { Count: > 0 })
            {
                // Shares go in once the guest runs (a device added before the load would meet the template's empty slots'
                // saved state); the guest waits for its setup line meanwhile, so it mounts them after they are in.
                await WaitRunningAsync(qmp, ct).ConfigureAwait(false);
                await PlugSharesAsync(qmp, plug, ct).ConfigureAwait(false);
            }
        }
        await SendSetupAsync(setupSocket, setupLine, budget, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Plugs each of <paramref name="mounts"/> (its virtiofsd already listening) into the hot-plug slot of its index
    /// (<see cref="QemuCommandLine.HotplugSlotId"/>) as a virtio-fs device with the mount's tag; init turns the slots on
    /// (<c>strata.fsplug=1</c>). QEMU 7.2 cannot save a guest with a vhost-user device, so a template never has one.
    /// </summary>
    public static async Task PlugSharesAsync(QmpClient qmp, IReadOnlyList<GuestMount> mounts, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(qmp);
        ArgumentNullException.ThrowIfNull(mounts);
        for (var i = 0; i < mounts.Count; i++)
        {
            var m = mounts[i];
            var chardev = "vfs" + i.ToString(CultureInfo.InvariantCulture);
            await qmp.ExecuteAsync("chardev-add", new JsonObject
            {
                ["id"] = chardev,
                ["backend"] = new JsonObject
                {
                    ["type"] = "socket",
                    ["data"] = new JsonObject
                    {
                        ["addr"] = new JsonObject { ["type"] = "unix", ["data"] = new JsonObject { ["path"] = GuestMachine.CheckSocketPath(m.SocketPath) } },
                        ["server"] = false,
                    },
                },
            }, ct).ConfigureAwait(false);
            await qmp.ExecuteAsync("device_add", new JsonObject
            {
                ["driver"] = "vhost-user-fs-pci",
                ["id"] = "fs" + i.ToString(CultureInfo.InvariantCulture),
                ["bus"] = QemuCommandLine.HotplugSlotId(i),
                ["chardev"] = chardev,
                ["tag"] = m.Tag,
            }, ct).ConfigureAwait(false);
        }
    }

    private static async Task WaitRunningAsync(QmpClient qmp, CancellationToken ct)
    {
        while (true)
        {
            var status = await qmp.ExecuteAsync("query-status", null, ct).ConfigureAwait(false);
            var state = status.TryGetProperty("status", out var s) ? s.GetString() : null;
            if (state == "running")
            {
                return;
            }
            if (state is not ("inmigrate" or "prelaunch" or "restore-vm"))
            {
                throw new StrataException(ErrorKind.Unavailable, $"the guest did not resume from the template (QEMU's state: {state})");
            }
            await Task.Delay(2, ct).ConfigureAwait(false);
        }
    }

    private static Task IgnoreSharedAsync(QmpClient qmp, CancellationToken ct) =>
        qmp.ExecuteAsync("migrate-set-capabilities", new JsonObject
        {
            ["capabilities"] = new JsonArray(new JsonObject { ["capability"] = "x-ignore-shared", ["state"] = true }),
        }, ct);

    /// <summary>
    /// The setup line for a guest resumed from a template: its own parameters (<see cref="QemuLaunchPlan.SetupLine"/>)
    /// plus 64 fresh random bytes from the host (<c>strata.seed</c>) and the host's clock (<c>strata.time</c>),
    /// base64-encoded. Never stored: it reaches the guest only over the setup socket.
    /// </summary>
    public static string SetupLine(string parameters, DateTimeOffset now)
    {
        var words = string.Create(CultureInfo.InvariantCulture,
            $"{parameters} strata.seed={Convert.ToBase64String(RandomNumberGenerator.GetBytes(64))} strata.time={now.ToUnixTimeSeconds()}");
        return Convert.ToBase64String(Encoding.UTF8.GetBytes(words));
    }

    /// <summary>
    /// Sends <paramref name="setupLine"/> on the guest's <c>strata.setup</c> port (QEMU's unix server socket) and waits
    /// for the guest's <see cref="GuestInit.SetupAck"/>, which it writes after reseeding its random generator and
    /// setting its clock. Throws when QEMU or the guest does not answer within <paramref name="timeout"/>.
    /// </summary>
    public static async Task SendSetupAsync(string socketPath, string setupLine, TimeSpan timeout, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), deadline.Token).ConfigureAwait(false);
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            await stream.WriteAsync(Encoding.ASCII.GetBytes(setupLine + "\n"), deadline.Token).ConfigureAwait(false);
            Mark("guest setup line sent");
            var reply = new StringBuilder();
            var buffer = new byte[256];
            while (true)
            {
                var n = await stream.ReadAsync(buffer, deadline.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    throw new StrataException(ErrorKind.Unavailable, "the guest's setup port closed before it confirmed its parameters (QEMU ended?)");
                }
                reply.Append(Encoding.ASCII.GetString(buffer, 0, n));
                if (reply.ToString().Contains(GuestInit.SetupAck, StringComparison.Ordinal))
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new StrataException(ErrorKind.Unavailable, $"the guest resumed from the template did not confirm its parameters within {timeout.TotalSeconds:0} s");
        }
        catch (SocketException e)
        {
            throw new StrataException(ErrorKind.Unavailable, $"cannot reach the guest's setup port {socketPath}: {e.Message}", inner: e);
        }
        catch (IOException e)
        {
            throw new StrataException(ErrorKind.Unavailable, $"the guest's setup port failed: {e.Message}", inner: e);
        }
    }

    /// <summary>A step of a run's timeline (the daemon's debug <c>RunTimeline</c>; a null check without one).</summary>
    private static void Mark(string phase) => System.Diagnostics.Activity.Current?.AddEvent(new System.Diagnostics.ActivityEvent(phase));

    /// <summary>QEMU runs <c>exec:</c> migration URIs through <c>/bin/sh -c</c>.</summary>
    private static string ShellQuote(string path)
    {
        if (path.Contains('\'', StringComparison.Ordinal) || path.Any(char.IsControl))
        {
            throw StrataException.Invalid("directory", $"{path} holds a quote or control character; use a plainer data root");
        }
        return "'" + path + "'";
    }
}
