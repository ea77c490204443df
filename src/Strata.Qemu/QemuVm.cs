using System.Diagnostics;
using System.Globalization;
using System.Text;
using Strata.Contracts;
using Strata.Qemu.Guest;
using Strata.Qemu.Qmp;

namespace Strata.Qemu;

/// <summary>What to boot: a Strata guest (kernel + Strata initramfs) running one workload.</summary>
public sealed record GuestVmOptions
{
    /// <summary>The instance's directory; QEMU's sockets and output files go here.</summary>
    public required string Directory { get; init; }
    public required string KernelPath { get; init; }
    /// <summary>Null: none (a start from a template, whose guest booted long ago; see <see cref="Templates.GuestTemplate.ForRestore"/>).</summary>
    public required string? InitrdPath { get; init; }
    public required GuestWorkload Workload { get; init; }
    public QemuMachine Machine { get; init; } = QemuMachine.Microvm;
    public string Accel { get; init; } = Accelerators.Tcg;
    /// <summary>Under KVM, the named CPU model (a cluster's guest CPU baseline); null: <c>host</c>. Ignored under TCG.</summary>
    public string? CpuModel { get; init; }
    public int Cpus { get; init; } = 1;
    public int MemoryMiB { get; init; } = 256;
    /// <summary>An ext4 disk the workload runs in (chrooted); attached first, so it is /dev/vda. Null: the initramfs is the root.</summary>
    public QemuDrive? RootDisk { get; init; }
    public bool Balloon { get; init; }
    /// <summary>
    /// The balloon offers free-page reporting: the guest's freed pages go back to the host. Never for a guest whose RAM
    /// is a template's file mapped privately (QEMU 7.2 would punch the freed pages out of the shared file); a template's
    /// guest unloads its balloon driver before it is saved (docs/sandbox.md#templates).
    /// </summary>
    public bool FreePageReporting { get; init; }
    /// <summary>Under TCG, the translated-code buffer in MiB (<c>tb-size</c>); null: QEMU's default (1 GiB).</summary>
    public int? TcgCodeBufferMiB { get; init; }
    public uint? VsockCid { get; init; }
    public string QemuBinary { get; init; } = "qemu-system-x86_64";
    /// <summary>
    /// Under TCG, the TSC rate given to the guest kernel (<c>tsc_early_khz</c>) so it does not calibrate
    /// against the emulated PIT, which hangs microvm boots on a busy host. Null: <see cref="HostTsc.KHz"/>.
    /// </summary>
    public long? GuestTscKHz { get; init; }
    /// <summary>Extra kernel arguments, appended last.</summary>
    public string? ExtraKernelArguments { get; init; }
    /// <summary>
    /// Where the <c>strata.stdout</c> / <c>strata.stderr</c> ports write; null: files <c>stdout</c> / <c>stderr</c> in
    /// <see cref="Directory"/>. A supervisor that hands QEMU pipes passes <c>/proc/self/fd/N</c> here.
    /// </summary>
    public string? StdoutPath { get; init; }
    public string? StderrPath { get; init; }
    /// <summary>When set, the <c>strata.exec</c> port is a unix server socket here and init starts the exec agent (root disk only).</summary>
    public string? ExecSocket { get; init; }
    /// <summary>Host directories (served by virtiofsd on their sockets) that init mounts before the workload starts.</summary>
    public IReadOnlyList<GuestMount> Mounts { get; init; } = [];
    /// <summary>
    /// Empty PCIe root ports (microvm) that <see cref="Mounts"/> are plugged into once the guest runs: a template's boot
    /// and its restores with mounts (docs/sandbox.md#templates). 0: none.
    /// </summary>
    public int HotplugSlots { get; init; }
    /// <summary>
    /// <see cref="Mounts"/> are not on QEMU's command line: they are plugged into <see cref="HotplugSlots"/> after a restore
    /// (<see cref="Templates.GuestTemplate.PlugSharesAsync"/>), and init turns those slots on before it mounts them.
    /// </summary>
    public bool MountsHotplugged { get; init; }
    /// <summary>A NIC on a host tap device that init configures as eth0; null: no network device.</summary>
    public GuestNetwork? Network { get; init; }
    /// <summary>The guest's hostname (<c>strata.hostname=</c>); null: the kernel's default.</summary>
    public string? Hostname { get; init; }
    // --- templates (src/Strata.Qemu/Templates) ---
    /// <summary>
    /// Template mode: the kernel command line carries only <c>strata.template=1</c>; the <c>strata.*</c> words go to
    /// <see cref="QemuLaunchPlan.SetupLine"/> instead, which the host sends on the <c>strata.setup</c> port, a unix server
    /// socket here. Null: the words travel on the kernel command line as usual.
    /// </summary>
    public string? SetupSocket { get; init; }
    /// <summary>Raw QEMU arguments appended last (a template's memory backend and <c>-incoming</c>).</summary>
    public IReadOnlyList<string> ExtraQemuArguments { get; init; } = [];

    /// <summary>
    /// A balloon with free-page reporting (unless <paramref name="on"/> is false): pages the guest frees go back to the
    /// host (docs/sandbox.md, "Memory"). The sandbox tier's guests and the raw QEMU baselines measured against them.
    /// </summary>
    public GuestVmOptions WithFreePageReporting(bool on = true) => this with { Balloon = on, FreePageReporting = on };
}

/// <summary>
/// The guest's network: a tap device the host bridged, the NIC's MAC, and the address init gives eth0
/// (<c>strata.net=ADDRESS/PREFIX[,GATEWAY]</c>; without a gateway there is no default route). <paramref name="NamesDisk"/>:
/// a raw file the host keeps the network's hosts list in, attached read-only with the serial
/// <see cref="GuestInit.NamesDiskSerial"/>; init copies it to /etc/hosts and re-reads it every second.
/// </summary>
public sealed record GuestNetwork(string Tap, string Mac, string Address, int Prefix, string? Gateway, string? NamesDisk = null)
{
    /// <summary>The names disk as a drive (added after the root disk, so the root stays /dev/vda); null without one.</summary>
    public QemuDrive? NamesDrive => NamesDisk is null ? null : new QemuDrive(NamesDisk, "raw", ReadOnly: true, Id: "names", Serial: GuestInit.NamesDiskSerial);

    public string ToKernelArgument()
    {
        if (!System.Net.IPAddress.TryParse(Address, out var a) || a.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || Prefix is < 1 or > 32
            || (Gateway is not null && !System.Net.IPAddress.TryParse(Gateway, out _)))
        {
            throw StrataException.Invalid("network", $"{Address}/{Prefix} via {Gateway} is not an IPv4 address, prefix and gateway");
        }
        return $"strata.net={Address}/{Prefix.ToString(CultureInfo.InvariantCulture)}" + (Gateway is null ? "" : "," + Gateway)
            + (NamesDisk is null ? "" : " strata.hosts=" + GuestInit.NamesDiskSerial);
    }
}

/// <summary>
/// A virtio-fs share the guest's init mounts at <paramref name="GuestPath"/> (read-only with <c>-o ro</c> when asked).
/// <paramref name="File"/>: the share holds one file (<see cref="VirtioFsExport.StagedFileName"/>, see
/// <see cref="VirtioFsExport.File"/>); init mounts the share where the workload does not see it and bind-mounts that
/// file onto <paramref name="GuestPath"/>, creating an empty file there first if needed.
/// </summary>
public sealed record GuestMount(string Tag, string SocketPath, string GuestPath, bool ReadOnly, bool File = false)
{
    /// <summary>The <c>strata.mounts=BASE64</c> kernel argument: one line <c>TAG ro|rw dir|file PATH</c> per mount.</summary>
    public static string ToKernelArgument(IReadOnlyList<GuestMount> mounts)
    {
        var lines = new StringBuilder();
        foreach (var m in mounts)
        {
            if (m.Tag.Length == 0 || m.Tag.Any(c => !char.IsAsciiLetterOrDigit(c)))
            {
                throw StrataException.Invalid("mounts", $"virtio-fs tag '{m.Tag}' must be letters and digits");
            }
            if (!m.GuestPath.StartsWith('/') || m.GuestPath.Any(char.IsControl))
            {
                throw StrataException.Invalid("mounts", $"'{m.GuestPath}' is not an absolute path without control characters");
            }
            lines.Append(m.Tag).Append(m.ReadOnly ? " ro " : " rw ").Append(m.File ? "file " : "dir ").Append(m.GuestPath).Append('\n');
        }
        return "strata.mounts=" + Convert.ToBase64String(Encoding.UTF8.GetBytes(lines.ToString()));
    }
}

/// <summary>
/// Everything needed to run the guest: the argv and the files it writes. A supervisor process can run
/// <see cref="Argv"/> itself; <see cref="QemuVm.ReadGuestReport"/> reads the outcome afterwards.
/// </summary>
public sealed record QemuLaunchPlan(
    IReadOnlyList<string> Argv,
    string Directory,
    string QmpSocket,
    string PidFile,
    string SerialLog,
    string StdoutPath,
    string StderrPath,
    string ControlPath)
{
    /// <summary>Template mode: the guest's parameters for the <c>strata.setup</c> port (see <see cref="GuestVmOptions.SetupSocket"/>).</summary>
    public string? SetupLine { get; init; }
}

/// <summary>What the guest's init reported on the control port.</summary>
/// <param name="ExitCode">The workload's exit code, or null if none was reported.</param>
/// <param name="Failure">Why init could not run the workload (<c>STRATA-FAIL</c>), if it said so.</param>
/// <param name="KernelSeconds">Guest uptime when init began (<c>STRATA-TIME kernel</c>): the kernel's boot time.</param>
/// <param name="WorkloadSeconds">Guest uptime when init started the workload.</param>
/// <param name="ExitSeconds">Guest uptime when the workload had ended.</param>
/// <param name="SetupSeconds">A start from a template: guest uptime when the resumed guest had read its setup line (<c>STRATA-TIME setup</c>).</param>
public sealed record GuestReport(int? ExitCode, string? Failure, double? KernelSeconds = null, double? WorkloadSeconds = null, double? ExitSeconds = null,
    double? SetupSeconds = null);

/// <summary>How a VM run ended.</summary>
public sealed record VmExit
{
    /// <summary>The workload's exit code as the guest reported it; null when it reported none.</summary>
    public int? GuestExitCode { get; init; }
    /// <summary>QEMU's own exit code (0 after a guest reboot with -no-reboot or a QMP quit).</summary>
    public int QemuExitCode { get; init; }
    /// <summary>Why there is no guest exit code: init's failure, a timeout, a kill, or QEMU's error output.</summary>
    public string? Reason { get; init; }
    public bool TimedOut { get; init; }
    public bool Killed { get; init; }
    public TimeSpan Elapsed { get; init; }
}

/// <summary>
/// One running QEMU. <see cref="Plan"/> is pure (argv + file names); <see cref="StartAsync"/> runs it as
/// a child of this process (the daemon will hand the plan to a supervisor instead).
/// </summary>
public sealed class QemuVm : IAsyncDisposable
{
    /// <summary>Unix socket paths longer than this do not fit <c>sockaddr_un</c>.</summary>
    public const int MaxSocketPath = 107;

    /// <summary>x86 Linux keeps 2048 bytes of kernel command line, including its terminating NUL.</summary>
    public const int MaxKernelCommandLine = 2047;

    private readonly Process _process;
    private readonly TimeProvider _time;
    private readonly long _startedAt;
    private readonly StringBuilder _qemuOutput = new();
    private readonly Task _outputPump;
    private readonly SemaphoreSlim _qmpLock = new(1, 1);
    private QmpClient? _qmp;
    private bool _killed;

    private QemuVm(QemuLaunchPlan plan, Process process, TimeProvider time)
    {
        LaunchPlan = plan;
        _process = process;
        _time = time;
        _startedAt = time.GetTimestamp();
        _outputPump = Task.WhenAll(Pump(process.StandardOutput), Pump(process.StandardError));
    }

    public QemuLaunchPlan LaunchPlan { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>
    /// Builds the QEMU command line (<see cref="GuestMachine"/>, <see cref="KernelArguments"/>) and the file layout for a Strata guest. Writes nothing; under TCG it
    /// reads the host's TSC rate once (see <see cref="HostTsc"/>) unless the options give one.
    /// </summary>
    public static QemuLaunchPlan Plan(GuestVmOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var dir = Path.GetFullPath(options.Directory);
        var kernel = new KernelArguments
        {
            Machine = options.Machine,
            Accel = options.Accel,
            Workload = options.Workload,
            RootDisk = options.RootDisk is not null,
            ExecAgent = options.ExecSocket is not null,
            TscKHz = options.GuestTscKHz,
            Mounts = options.Mounts,
            MountsHotplugged = options.MountsHotplugged,
            Network = options.Network,
            Hostname = options.Hostname,
            Extra = options.ExtraKernelArguments,
        };
        var append = kernel.Build();
        string? setupLine = null;
        if (options.SetupSocket is not null)
        {
            // Template mode: the guest's own words travel on the setup port; the command line is the template's.
            setupLine = kernel.GuestWords() + (options.Network is { } n ? " strata.mac=" + n.Mac : "");
            append = kernel.Head() + " strata.template=1";
        }
        var plan = new QemuLaunchPlan([], dir, Path.Combine(dir, "qmp.sock"),
            Path.Combine(dir, "qemu.pid"),
            Path.Combine(dir, "serial.log"),
            options.StdoutPath ?? Path.Combine(dir, "stdout"),
            options.StderrPath ?? Path.Combine(dir, "stderr"),
            Path.Combine(dir, "control"));
        var cmd = new GuestMachine
        {
            Machine = options.Machine,
            QemuBinary = options.QemuBinary,
            Accel = options.Accel,
            Cpus = options.Cpus,
            MemoryMiB = options.MemoryMiB,
            QmpSocket = plan.QmpSocket,
            RootDisk = options.RootDisk,
            KernelPath = options.KernelPath,
            InitrdPath = options.InitrdPath,
            KernelAppend = append,
            Ports = new GuestPorts(plan.StdoutPath, plan.StderrPath, plan.ControlPath, options.ExecSocket, options.SetupSocket),
            Network = options.Network,
            Balloon = options.Balloon,
            FreePageReporting = options.FreePageReporting,
            TcgCodeBufferMiB = options.TcgCodeBufferMiB,
            HotplugSlots = options.HotplugSlots,
            CpuModel = options.CpuModel,
        }.ToCommandLine()
            .WithSerialFile(plan.SerialLog)
            .WithPidFile(plan.PidFile);
        if (options.MountsHotplugged && options.Mounts.Count > options.HotplugSlots)
        {
            throw StrataException.Invalid("mounts", $"{options.Mounts.Count} mounts to plug in but {options.HotplugSlots} hot-plug slots");
        }
        foreach (var m in options.MountsHotplugged ? [] : options.Mounts)
        {
            cmd.AddVirtioFsShare(new VirtioFsShare(m.Tag, GuestMachine.CheckSocketPath(m.SocketPath)));
        }
        if (options.VsockCid is uint cid)
        {
            cmd.WithVsock(cid);
        }
        cmd.AddRawArguments([.. options.ExtraQemuArguments]);
        return plan with { Argv = cmd.Build(), SetupLine = setupLine };
    }

    /// <summary>Starts QEMU for <paramref name="plan"/> and returns once the process runs (not once the guest booted).</summary>
    public static Task<QemuVm> StartAsync(QemuLaunchPlan plan, CancellationToken cancellationToken) =>
        StartAsync(plan, TimeProvider.System, cancellationToken);

    public static Task<QemuVm> StartAsync(QemuLaunchPlan plan, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        cancellationToken.ThrowIfCancellationRequested();
        var kernelAt = plan.Argv.ToList().IndexOf("-kernel");
        if (kernelAt > 0 && kernelAt + 1 < plan.Argv.Count && !File.Exists(plan.Argv[kernelAt + 1]))
        {
            throw new StrataException(ErrorKind.Unavailable,
                $"guest kernel {plan.Argv[kernelAt + 1]} does not exist; install it with 'apt-get install {GuestKernel.Package}' or set {GuestKernel.EnvironmentVariable}");
        }
        Directory.CreateDirectory(plan.Directory);
        // Output of an earlier run must not be mistaken for this run's report.
        foreach (var stale in new[] { plan.QmpSocket, plan.ControlPath, plan.StdoutPath, plan.StderrPath, plan.SerialLog, plan.PidFile })
        {
            if (!string.IsNullOrEmpty(stale))
            {
                File.Delete(stale);
            }
        }
        var psi = new ProcessStartInfo(plan.Argv[0])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = plan.Directory,
        };
        foreach (var a in plan.Argv.Skip(1))
        {
            psi.ArgumentList.Add(a);
        }
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new StrataException(ErrorKind.Unavailable, $"could not start {plan.Argv[0]}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new StrataException(ErrorKind.Unavailable, $"{plan.Argv[0]} could not be started ({e.Message}); install it with 'apt-get install qemu-system-x86'", inner: e);
        }
        process.StandardInput.Close();
        return Task.FromResult(new QemuVm(plan, process, timeProvider));
    }

    /// <summary>
    /// This VM's QMP connection, opened on first use (waiting up to 10 s for QEMU to create the
    /// socket) and opened again if it closed. QEMU serves one QMP client at a time, so everything
    /// that talks to this VM (including <see cref="StopAsync"/>) shares this one connection.
    /// </summary>
    public async Task<QmpClient> GetQmpAsync(CancellationToken cancellationToken)
    {
        await _qmpLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_qmp is { IsConnected: true })
            {
                return _qmp;
            }
            if (_qmp is not null)
            {
                await _qmp.DisposeAsync().ConfigureAwait(false);
            }
            _qmp = await QmpClient.ConnectAsync(LaunchPlan.QmpSocket, TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
            return _qmp;
        }
        finally
        {
            _qmpLock.Release();
        }
    }

    /// <summary>Waits until QEMU exits, then reads what the guest reported.</summary>
    public async Task<VmExit> WaitAsync(CancellationToken cancellationToken)
    {
        await _process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        await _outputPump.ConfigureAwait(false);
        return Outcome(timedOut: false);
    }

    /// <summary>Waits until QEMU exits or <paramref name="timeout"/> passes; on timeout the VM is killed.</summary>
    public async Task<VmExit> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = new CancellationTokenSource(timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        try
        {
            await _process.WaitForExitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await KillAsync().ConfigureAwait(false);
            await _outputPump.ConfigureAwait(false);
            return Outcome(timedOut: true) with { Reason = $"the guest did not finish within {timeout.TotalSeconds:0.#} s and was killed" };
        }
        await _outputPump.ConfigureAwait(false);
        return Outcome(timedOut: false);
    }

    /// <summary>
    /// Asks the guest to power down (QMP <c>system_powerdown</c>, an ACPI power button), waits up to
    /// <paramref name="grace"/>, then QMP <c>quit</c>, then SIGKILL. Strata's own init answers the button by
    /// sending SIGTERM to the workload (once its watcher runs); a full OS shuts down cleanly.
    /// </summary>
    public async Task StopAsync(TimeSpan grace, CancellationToken cancellationToken)
    {
        if (_process.HasExited)
        {
            return;
        }
        try
        {
            var qmp = await GetQmpAsync(cancellationToken).ConfigureAwait(false);
            await qmp.ExecuteAsync("system_powerdown", null, cancellationToken).ConfigureAwait(false);
            if (await ExitedWithinAsync(grace, cancellationToken).ConfigureAwait(false))
            {
                return;
            }
            try
            {
                await qmp.ExecuteAsync("quit", null, cancellationToken).ConfigureAwait(false);
            }
            catch (StrataException)
            {
                // QEMU closes the socket while answering quit; that is success.
            }
            if (await ExitedWithinAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false))
            {
                return;
            }
        }
        catch (StrataException) when (!cancellationToken.IsCancellationRequested)
        {
            // QMP unusable (QEMU wedged or exiting): fall through to the kill.
        }
        await KillAsync().ConfigureAwait(false);
    }

    /// <summary>SIGKILLs QEMU and waits for it to be gone.</summary>
    public async Task KillAsync()
    {
        if (_process.HasExited)
        {
            return;
        }
        _killed = true;
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Exited in between.
        }
        await _process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Reads the guest's control-port report (also usable when a supervisor ran QEMU): exit code, failure, timing marks.</summary>
    public static GuestReport ReadGuestReport(string controlPath)
    {
        if (!File.Exists(controlPath))
        {
            return new GuestReport(null, null);
        }
        var report = new GuestReport(null, null);
        foreach (var raw in File.ReadLines(controlPath))
        {
            var line = raw.TrimEnd('\r');
            if (line.StartsWith(GuestInit.ExitPrefix, StringComparison.Ordinal)
                && int.TryParse(line.AsSpan(GuestInit.ExitPrefix.Length), NumberStyles.Integer, CultureInfo.InvariantCulture, out var c))
            {
                report = report with { ExitCode = c };
            }
            else if (line.StartsWith(GuestInit.FailPrefix, StringComparison.Ordinal))
            {
                report = report with { Failure = line[GuestInit.FailPrefix.Length..] };
            }
            else if (line.StartsWith(GuestInit.TimePrefix, StringComparison.Ordinal)
                && line[GuestInit.TimePrefix.Length..].Split(' ') is [var mark, var value]
                && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var t))
            {
                report = mark switch
                {
                    "kernel" => report with { KernelSeconds = t },
                    "workload" => report with { WorkloadSeconds = t },
                    "exit" => report with { ExitSeconds = t },
                    "setup" => report with { SetupSeconds = t },
                    _ => report,
                };
            }
        }
        return report;
    }

    private async Task<bool> ExitedWithinAsync(TimeSpan time, CancellationToken cancellationToken)
    {
        using var deadline = new CancellationTokenSource(time, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        try
        {
            await _process.WaitForExitAsync(linked.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    private VmExit Outcome(bool timedOut)
    {
        var report = ReadGuestReport(LaunchPlan.ControlPath);
        string? reason = null;
        if (report.ExitCode is null)
        {
            string output;
            lock (_qemuOutput)
            {
                output = _qemuOutput.ToString().Trim();
            }
            reason = report.Failure is not null ? $"guest init failed: {report.Failure}"
                : _killed ? "killed"
                : output.Length > 0 ? $"QEMU exited with {_process.ExitCode}: {output}"
                : $"the guest reported no exit code (QEMU exit {_process.ExitCode}); see {LaunchPlan.SerialLog}";
        }
        return new VmExit
        {
            GuestExitCode = report.ExitCode,
            QemuExitCode = _process.ExitCode,
            Reason = reason,
            TimedOut = timedOut,
            Killed = _killed,
            Elapsed = _time.GetElapsedTime(_startedAt),
        };
    }

    // QEMU's own stdout/stderr carry only its error messages; keep the first 64 KiB for the exit reason.
    private async Task Pump(StreamReader reader)
    {
        var buffer = new char[4096];
        int n;
        while ((n = await reader.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            lock (_qemuOutput)
            {
                if (_qemuOutput.Length < 64 * 1024)
                {
                    _qemuOutput.Append(buffer, 0, n);
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync().ConfigureAwait(false);
        await _outputPump.ConfigureAwait(false);
        if (_qmp is not null)
        {
            await _qmp.DisposeAsync().ConfigureAwait(false);
        }
        _qmpLock.Dispose();
        _process.Dispose();
    }
}
