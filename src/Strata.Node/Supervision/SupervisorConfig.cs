namespace Strata.Node.Supervision;

/// <summary>
/// What one supervisor runs. The daemon writes it to <c>&lt;instanceDir&gt;/supervisor.json</c> (camelCase);
/// <c>strata-supervisor run PATH</c> reads it. Persisted format: bump <see cref="Version"/> when the shape changes.
/// </summary>
public sealed record SupervisorConfig
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;

    /// <summary>argv[0] is looked up in the workload's PATH (from <see cref="Env"/>) like execvp does.</summary>
    public required IReadOnlyList<string> Argv { get; init; }

    /// <summary>The workload's complete environment; nothing of the daemon's is inherited.</summary>
    public required IReadOnlyDictionary<string, string> Env { get; init; }

    public string WorkingDir { get; init; } = "/";

    public required string LogDirectory { get; init; }

    /// <summary>current.log is rotated to current.log.1 before it would exceed this; disk use stays ≤ 2 × this.</summary>
    public long LogMaxBytes { get; init; } = 10 * 1024 * 1024;

    /// <summary>Where the supervisor writes the exit record (atomically) once the workload has ended.</summary>
    public required string ExitFile { get; init; }

    /// <summary>
    /// cgroup.procs files the workload joins before exec (so it never runs outside its limits); when its main process
    /// ends, every process still in them is killed with it.
    /// </summary>
    public IReadOnlyList<string> CgroupProcsFiles { get; init; } = [];

    /// <summary>The memory cgroup directory, read after exit to tell whether the kernel OOM-killed the workload.</summary>
    public string? MemoryCgroup { get; init; }

    /// <summary>
    /// posix_spawn the workload itself instead of this executable's exec mode (one process start less on the
    /// start path). Only for a program that sets up its own signal handling (the OCI runtime), with
    /// <see cref="WorkingDir"/> "/", no <see cref="CgroupProcsFiles"/> and an absolute argv[0].
    /// </summary>
    public bool SpawnDirectly { get; init; }

    /// <summary>
    /// Write the exit file without fsync (still atomic through a rename): for instances removed when they end,
    /// whose record a host crash would make meaningless anyway. Survives a daemon crash (page cache).
    /// </summary>
    public bool VolatileExitFile { get; init; }

    /// <summary>
    /// The workload's stdio is a pseudo-terminal the supervisor owns (OCI <c>process.terminal</c>: the runtime hands
    /// the container its own terminal and copies between the two): its output is logged as one raw stream (stdout).
    /// </summary>
    public bool Terminal { get; init; }

    /// <summary>The terminal's size at the start, <c>COLUMNSxROWS</c>; null: 0×0 until a size frame comes.</summary>
    public string? TerminalSize { get; init; }

    /// <summary><see cref="TerminalSize"/> as numbers (0, 0 when absent or not a size).</summary>
    public (ushort Columns, ushort Rows) TerminalCells() =>
        TerminalSize?.Split('x') is [var c, var r]
        && ushort.TryParse(c, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var columns)
        && ushort.TryParse(r, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var rows)
            ? (columns, rows) : ((ushort)0, (ushort)0);

    /// <summary>
    /// The console channel (<see cref="ConsoleChannel"/>): a FIFO the supervisor reads input and window sizes from.
    /// Without <see cref="Stdin"/> only sizes are taken from it.
    /// </summary>
    public string? ConsoleFifo { get; init; }

    /// <summary>The workload reads input (from the console channel); otherwise its stdin is /dev/null.</summary>
    public bool Stdin { get; init; }

    /// <summary>
    /// Fills in what a hand-written config left out. (Source-generated JSON sets init-only properties
    /// that are absent to default(T) rather than keeping the initialisers above.)
    /// </summary>
    internal SupervisorConfig WithDefaults() => this with
    {
        Version = Version == 0 ? CurrentVersion : Version,
        WorkingDir = string.IsNullOrEmpty(WorkingDir) ? "/" : WorkingDir,
        LogMaxBytes = LogMaxBytes <= 0 ? 10 * 1024 * 1024 : LogMaxBytes,
        CgroupProcsFiles = CgroupProcsFiles ?? [],
        Env = Env ?? new Dictionary<string, string>(),
    };
}
