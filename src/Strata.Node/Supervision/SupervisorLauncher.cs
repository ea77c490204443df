using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;
using Strata.Contracts;
using Strata.Contracts.Host;

namespace Strata.Node.Supervision;

/// <summary>The workload's and its supervisor's identities (pid + start ticks, so PID reuse is detected).</summary>
public sealed record SupervisedProcess(int Pid, long PidStartTicks, int SupervisorPid, long SupervisorStartTicks);

/// <summary>
/// Starts <c>strata-supervisor run CONFIG</c> for an instance and waits for its one-line handshake.
/// The supervisor puts itself in its own session and outlives the daemon; after the handshake the
/// daemon only watches it (<see cref="ExitWatcher"/>), signals the workload (<see cref="Signals"/>) and
/// reads the exit file and logs it leaves behind. See docs/supervisor.md.
/// With <see cref="KeepSpare"/> it keeps one supervisor started ahead of time (<c>strata-supervisor standby</c>) and
/// hands it the next config: a run then does not wait for a process start. Dispose ends the spare.
/// </summary>
public sealed class SupervisorLauncher : IDisposable
{
    private Spare? _spare;
    private int _refilling;
    private volatile bool _disposed;

    private sealed record Spare(Process Process, long StartTicks);

    public const string ExecutableName = "strata-supervisor";
    public const string EnvironmentVariable = "STRATA_SUPERVISOR";
    public const string ConfigFileName = "supervisor.json";

    public SupervisorLauncher(string supervisorPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(supervisorPath);
        SupervisorPath = supervisorPath;
    }

    public string SupervisorPath { get; }

    /// <summary>Keep one standby supervisor ready (the daemon's container tier does; tests need not).</summary>
    public bool KeepSpare { get; init; }

    /// <summary>The PID of the standby supervisor waiting for the next start, or null when there is none (yet).</summary>
    public int? SparePid => Volatile.Read(ref _spare) is { } spare && !spare.Process.HasExited ? spare.Process.Id : null;

    /// <summary>How long to wait for the handshake line (the supervisor reports once the workload has exec'd).</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>$STRATA_SUPERVISOR, else next to the current executable, else on PATH; null when not found.</summary>
    public static string? Locate()
    {
        var fromEnv = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(fromEnv))
        {
            return File.Exists(fromEnv) ? Path.GetFullPath(fromEnv) : null;
        }
        var besides = Path.Combine(AppContext.BaseDirectory, ExecutableName);
        if (File.Exists(besides))
        {
            return besides;
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, ExecutableName);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    /// <summary>
    /// Writes <paramref name="config"/> to <c>&lt;instanceDir&gt;/supervisor.json</c>, starts the supervisor and
    /// returns once the workload runs. Throws <see cref="StrataException"/>: <see cref="ErrorKind.InvalidArgument"/>
    /// when the command cannot be executed (not found, not executable, bad working directory) — the exit
    /// file then also records it (failed, 127/126) — and <see cref="ErrorKind.Internal"/> when the supervisor
    /// itself fails.
    /// </summary>
    public async Task<SupervisedProcess> StartAsync(string instanceDir, SupervisorConfig config, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(instanceDir);
        ArgumentNullException.ThrowIfNull(config);
        if (config.Argv.Count == 0 || string.IsNullOrEmpty(config.Argv[0]))
        {
            throw StrataException.Invalid("command", "the command is empty; give the program to run");
        }
        Directory.CreateDirectory(instanceDir);
        var configPath = Path.Combine(instanceDir, ConfigFileName);
        WriteConfig(configPath, config);

        var (process, supervisorStartTicks) = TakeSpare(configPath) ?? StartSupervisor(["run", configPath]);
        using (process)
        {
            process.StandardInput.Close();
            var stderrTask = process.StandardError.ReadToEndAsync(CancellationToken.None);
            string? line;
            try
            {
                line = await process.StandardOutput.ReadLineAsync(ct).AsTask().WaitAsync(HandshakeTimeout, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is TimeoutException or OperationCanceledException)
            {
                TryKill(process);
                if (e is OperationCanceledException)
                {
                    throw new StrataException(ErrorKind.Cancelled, "starting the workload was cancelled", inner: e);
                }
                throw new StrataException(ErrorKind.Internal, $"the supervisor did not report within {HandshakeTimeout.TotalSeconds:0} s", inner: e);
            }
            if (KeepSpare)
            {
                // After the handshake: the next spare's start does not compete with this workload's.
                RefillSpareInBackground();
            }

            HandshakeLine? handshake = null;
            if (!string.IsNullOrWhiteSpace(line))
            {
                try
                {
                    handshake = JsonSerializer.Deserialize(line, SupervisionJsonContext.Default.HandshakeLine);
                }
                catch (JsonException)
                {
                    handshake = null;
                }
            }
            if (handshake is { Ok: true, Pid: int pid })
            {
                return new SupervisedProcess(pid, handshake.PidStartTicks ?? 0, process.Id, supervisorStartTicks);
            }
            if (handshake is { Ok: false, ExitCode: not null })
            {
                throw new StrataException(ErrorKind.InvalidArgument, $"{handshake.Error}; check the command, its PATH and the working directory", "command");
            }
            var stderr = await ReadStderrAsync(stderrTask).ConfigureAwait(false);
            var detail = handshake?.Error ?? (string.IsNullOrWhiteSpace(stderr) ? $"no handshake (got: {line ?? "end of output"})" : stderr.Trim());
            throw new StrataException(ErrorKind.Internal, $"the supervisor failed to start the workload: {detail}");
        }
    }

    /// <summary>Starts a supervisor: no environment of the daemon's (DOTNET_* knobs would change it), stdio piped.</summary>
    private (Process Process, long StartTicks) StartSupervisor(string[] args)
    {
        var start = new ProcessStartInfo(SupervisorPath)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = "/",
        };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        // The workload's environment is in the config.
        start.Environment.Clear();
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new StrataException(ErrorKind.Internal, $"could not start {SupervisorPath}");
        }
        catch (Win32Exception e)
        {
            throw new StrataException(ErrorKind.Internal,
                $"could not start the supervisor {SupervisorPath}: {e.Message}; build it with scripts/publish-native.sh or set {EnvironmentVariable}", inner: e);
        }
        // Read now: the supervisor cannot have been reaped before it has answered.
        return (process, ProcessIdentity.TryGetStartTicks(process.Id) ?? 0);
    }

    /// <summary>The standby supervisor, given <paramref name="configPath"/>; null when there is none or it is gone.</summary>
    private (Process, long)? TakeSpare(string configPath)
    {
        if (Interlocked.Exchange(ref _spare, null) is not { } spare)
        {
            return null;
        }
        try
        {
            if (!spare.Process.HasExited)
            {
                spare.Process.StandardInput.Write(configPath + "\n");
                spare.Process.StandardInput.Flush();
                return (spare.Process, spare.StartTicks);
            }
        }
        catch (IOException)
        {
            // It died between the check and the write: start one the usual way.
        }
        TryKill(spare.Process);
        spare.Process.Dispose();
        return null;
    }

    private void RefillSpareInBackground()
    {
        if (_disposed || Volatile.Read(ref _spare) is not null || Interlocked.Exchange(ref _refilling, 1) == 1)
        {
            return;
        }
        _ = Task.Run(() =>
        {
            try
            {
                var (process, ticks) = StartSupervisor(["standby"]);
                if (_disposed || Interlocked.CompareExchange(ref _spare, new Spare(process, ticks), null) is not null)
                {
                    TryKill(process);
                    process.Dispose();
                }
                else if (_disposed && Interlocked.Exchange(ref _spare, null) is { } late)
                {
                    TryKill(late.Process);
                    late.Process.Dispose();
                }
            }
            catch (StrataException)
            {
                // No spare this time; the next run starts its supervisor itself and tries again.
            }
            finally
            {
                Volatile.Write(ref _refilling, 0);
            }
        });
    }

    /// <summary>Starts the spare now (a daemon does so at start, so that even its first run finds one).</summary>
    public void PrepareSpare()
    {
        if (KeepSpare)
        {
            RefillSpareInBackground();
        }
    }

    public void Dispose()
    {
        _disposed = true;
        if (Interlocked.Exchange(ref _spare, null) is { } spare)
        {
            TryKill(spare.Process);
            spare.Process.Dispose();
        }
    }

    private static void WriteConfig(string path, SupervisorConfig config)
    {
        AtomicFile.WriteAllBytes(path, JsonSerializer.SerializeToUtf8Bytes(config, SupervisionJsonContext.Default.SupervisorConfig));
    }

    private static async Task<string> ReadStderrAsync(Task<string> stderrTask)
    {
        try
        {
            return await stderrTask.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return "";
        }
    }

    private static void TryKill(Process process)
    {
        try
        {
            process.Kill();
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
    }
}
