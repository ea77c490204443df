using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Strata.Contracts.Drivers;
using Strata.Node.Cgroups;
using Strata.Node.Logs;
using Strata.Node.Supervision;

namespace Strata.Supervisor;

/// <summary>
/// <c>run CONFIG</c>: starts the workload, answers the daemon with one JSON line, then copies the
/// workload's stdout/stderr into the CRI log until it exits and records how it ended.
/// </summary>
internal static unsafe class RunMode
{
    private const int ReadBytes = 64 * 1024;
    private const int FallbackPollMs = 50;
    private const long DrainMs = 1000;

    // Process group of the workload (its pid); read by the signal handler thread.
    private static volatile int s_workloadGroup;

    // Set once a config is being run: from then on SIGTERM and SIGINT never end the supervisor itself.
    private static volatile bool s_supervising;

    public static int Run(string configPath)
    {
        // Own session first: a terminal's or the daemon's group signals must not reach us.
        Libc.setsid();
        EnsureStandardDescriptors();
        Libc.chdir("/");

        SupervisorConfig config;
        try
        {
            config = JsonSerializer.Deserialize(File.ReadAllBytes(configPath), SupervisionJsonContext.Default.SupervisorConfig)
                ?? throw new JsonException("empty");
            config = config.WithDefaults();
            if (config.Version != SupervisorConfig.CurrentVersion)
            {
                return Handshake(new HandshakeLine { Ok = false, Error = $"config {configPath}: version {config.Version} is not supported" });
            }
            if (config.Argv is null || config.Argv.Count == 0)
            {
                return Handshake(new HandshakeLine { Ok = false, Error = "config: argv is empty" });
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return Handshake(new HandshakeLine { Ok = false, Error = $"config {configPath}: {e.Message}" });
        }

        CriLogWriter log;
        try
        {
            log = new CriLogWriter(config.LogDirectory, config.LogMaxBytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return Handshake(new HandshakeLine { Ok = false, Error = $"log directory {config.LogDirectory}: {e.Message}" });
        }

        s_supervising = true;
        RegisterSignalHandlers();

        var pipes = stackalloc int[8];
        if (Libc.pipe2(pipes, Libc.O_CLOEXEC) != 0 || Libc.pipe2(pipes + 2, Libc.O_CLOEXEC) != 0 || Libc.pipe2(pipes + 4, Libc.O_CLOEXEC) != 0
            || (config.Stdin && !config.Terminal && Libc.pipe2(pipes + 6, Libc.O_CLOEXEC) != 0))
        {
            return Handshake(new HandshakeLine { Ok = false, Error = "pipe2: " + Libc.ErrorText(Marshal.GetLastPInvokeError()) });
        }
        int stdoutRead = pipes[0], stdoutWrite = pipes[1], stderrRead = pipes[2], stderrWrite = pipes[3];
        int statusRead = pipes[4], statusWrite = pipes[5];
        int stdinRead = -1, stdinWrite = -1;
        if (config.Stdin && !config.Terminal)
        {
            (stdinRead, stdinWrite) = (pipes[6], pipes[7]);
        }
        PseudoTerminal? terminal = null;
        if (config.Terminal)
        {
            // The workload's stdio is the terminal side: one stream, the master is read into the log as stdout.
            try
            {
                var (columns, rows) = config.TerminalCells();
                terminal = PseudoTerminal.Open(columns, rows);
            }
            catch (Strata.Contracts.StrataException e)
            {
                return Handshake(new HandshakeLine { Ok = false, Error = e.Message });
            }
            Libc.close(stdoutRead);
            Libc.close(stdoutWrite);
            Libc.close(stderrRead);
            Libc.close(stderrWrite);
            stdoutRead = terminal.MasterFd;
            stdinRead = stdoutWrite = stderrWrite = terminal.TerminalFd;
            stderrRead = -1;
        }
        var console = ConsoleIo.Open(config.ConsoleFifo, terminal, stdinWrite, config.Stdin, out var consoleError);
        if (consoleError is not null)
        {
            return Handshake(new HandshakeLine { Ok = false, Error = consoleError });
        }

        var direct = config.SpawnDirectly && config.CgroupProcsFiles.Count == 0 && config.WorkingDir == "/" && config.Argv[0].StartsWith('/');
        var pid = SpawnExecMode(config, stdinRead, stdoutWrite, stderrWrite, statusWrite, direct, out var spawnError);
        if (terminal is not null)
        {
            // Only the workload holds the terminal side now: the master reads as ended once it has exited.
            terminal.CloseTerminal();
        }
        else
        {
            Libc.close(stdoutWrite);
            Libc.close(stderrWrite);
            if (stdinRead >= 0)
            {
                Libc.close(stdinRead);
            }
        }
        Libc.close(statusWrite);
        if (pid <= 0 && direct)
        {
            // glibc's posix_spawn reports the child's failed exec as its own error: the same outcome as exec mode's.
            var exitCode = ExecMode.ExitCodeFor(ExecMode.StageExec, spawnError);
            var reason = ExecMode.ReasonFor(ExecMode.StageExec, spawnError, config.Argv[0], config.WorkingDir);
            Libc.close(statusRead);
            log.Write("stderr", System.Text.Encoding.UTF8.GetBytes(reason + "\n"));
            log.Dispose();
            WriteExit(config, new ExitStatus { ExitCode = exitCode, Reason = reason, FinishedAt = DateTimeOffset.UtcNow, Failed = true });
            return Handshake(new HandshakeLine { Ok = false, Error = reason, ExitCode = exitCode });
        }
        if (pid <= 0)
        {
            return Handshake(new HandshakeLine { Ok = false, Error = "posix_spawn: " + Libc.ErrorText(spawnError) });
        }
        s_workloadGroup = pid;

        // Blocks until the child has exec'd the workload (EOF) or reported why it could not (5 bytes).
        var report = stackalloc byte[5];
        var got = ReadFully(statusRead, report, 5);
        Libc.close(statusRead);
        if (got == 5)
        {
            var stage = report[0];
            var errno = BitConverter.ToInt32(new ReadOnlySpan<byte>(report + 1, 4));
            var exitCode = ExecMode.ExitCodeFor(stage, errno);
            var reason = ExecMode.ReasonFor(stage, errno, config.Argv[0], config.WorkingDir);
            int status;
            Libc.waitpid(pid, &status, 0);
            // Keep what the child wrote to stderr (its error message) in the log.
            CopyUntilEof(log, stdoutRead, stderrRead);
            log.Dispose();
            WriteExit(config, new ExitStatus { ExitCode = exitCode, Reason = reason, FinishedAt = DateTimeOffset.UtcNow, Failed = true });
            return Handshake(new HandshakeLine { Ok = false, Error = reason, ExitCode = exitCode });
        }

        var startTicks = ProcessIdentity.TryGetStartTicks(pid) ?? 0;
        Handshake(new HandshakeLine { Ok = true, Pid = pid, PidStartTicks = startTicks });
        // The daemon may be gone at any time from now on: never write to its pipes again.
        RedirectStandardDescriptorsToNull();

        console?.Started(pid);
        var exit = Supervise(log, pid, stdoutRead, stderrRead, [.. config.CgroupProcsFiles.Select(Path.GetDirectoryName).OfType<string>()], console, flushPartialLines: terminal is not null);
        log.Dispose();
        if (config.MemoryCgroup is { } memoryCgroup && ReadOomKills(memoryCgroup) > 0)
        {
            exit = exit with { OomKilled = true, Reason = "oom-killed" };
        }
        WriteExit(config, exit);
        return 0;
    }

    /// <summary>
    /// SIGTERM/SIGINT to the supervisor stop the workload, and the supervisor stays to record how it ended; SIGHUP
    /// is ignored. A spare that has no config yet ends on them as usual.
    /// Registered once for the process's life (a spare registers them ahead of time).
    /// </summary>
    internal static void RegisterSignalHandlers()
    {
        if (s_signalRegistrations is not null)
        {
            return;
        }
        s_signalRegistrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, ForwardTerm),
            PosixSignalRegistration.Create(PosixSignal.SIGINT, ForwardTerm),
            PosixSignalRegistration.Create(PosixSignal.SIGHUP, static c => c.Cancel = true),
        ];
    }

    private static PosixSignalRegistration[]? s_signalRegistrations;

    private static void ForwardTerm(PosixSignalContext context)
    {
        if (!s_supervising)
        {
            return;
        }
        context.Cancel = true;
        var group = s_workloadGroup;
        if (group > 1)
        {
            Libc.kill(-group, Signals.SIGTERM);
        }
    }

    /// <summary>
    /// posix_spawn of this executable in exec mode (vfork-style: safe in a multithreaded runtime), or with
    /// <paramref name="direct"/> of the workload itself: every signal back to its default disposition, nothing
    /// blocked, and a failed exec returned as the error (the status pipe then just closes).
    /// </summary>
    private static int SpawnExecMode(SupervisorConfig config, int stdinRead, int stdoutWrite, int stderrWrite, int statusWrite, bool direct, out int error)
    {
        const int StatusFd = 3;
        var self = Environment.ProcessPath ?? "/proc/self/exe";
        var argv = new List<string>();
        if (direct)
        {
            argv.AddRange(config.Argv);
        }
        else
        {
            argv.AddRange([self, "exec", "--cwd", config.WorkingDir, "--status-fd", StatusFd.ToString(CultureInfo.InvariantCulture)]);
            argv.AddRange(config.CgroupProcsFiles);
            argv.Add("--");
            argv.AddRange(config.Argv);
        }
        var env = new List<string>(config.Env.Count);
        foreach (var (key, value) in config.Env)
        {
            env.Add(key + "=" + value);
        }

        var actions = NativeMemory.AllocZeroed(Libc.OpaqueBytes);
        var attributes = NativeMemory.AllocZeroed(Libc.OpaqueBytes);
        var emptyMask = NativeMemory.AllocZeroed(Libc.OpaqueBytes);
        var allSignals = NativeMemory.AllocZeroed(Libc.OpaqueBytes);
        try
        {
            Libc.posix_spawn_file_actions_init(actions);
            if (stdinRead >= 0)
            {
                Libc.posix_spawn_file_actions_adddup2(actions, stdinRead, 0);
            }
            else
            {
                Libc.posix_spawn_file_actions_addopen(actions, 0, "/dev/null", Libc.O_RDONLY, 0);
            }
            Libc.posix_spawn_file_actions_adddup2(actions, stdoutWrite, 1);
            Libc.posix_spawn_file_actions_adddup2(actions, stderrWrite, 2);
            if (!direct)
            {
                Libc.posix_spawn_file_actions_adddup2(actions, statusWrite, StatusFd);
            }
            Libc.posix_spawnattr_init(attributes);
            // Process group 0 = the child's own pid: the workload leads its group (pgid == pid).
            var flags = (short)(Libc.POSIX_SPAWN_SETPGROUP | Libc.POSIX_SPAWN_SETSIGMASK);
            if (direct)
            {
                // The .NET runtime ignores SIGPIPE (and handles others): all back to SIG_DFL, as exec mode does.
                Libc.sigfillset(allSignals);
                Libc.posix_spawnattr_setsigdefault(attributes, allSignals);
                flags |= Libc.POSIX_SPAWN_SETSIGDEF;
            }
            Libc.posix_spawnattr_setflags(attributes, flags);
            Libc.posix_spawnattr_setpgroup(attributes, 0);
            Libc.posix_spawnattr_setsigmask(attributes, emptyMask);

            var path = (byte*)Marshal.StringToCoTaskMemUTF8(direct ? config.Argv[0] : self);
            var nativeArgv = Libc.ToNativeStringArray(argv);
            var nativeEnv = Libc.ToNativeStringArray(env);
            int pid;
            error = Libc.posix_spawn(&pid, path, actions, attributes, nativeArgv, nativeEnv);
            FreeStringArray(nativeArgv);
            FreeStringArray(nativeEnv);
            Marshal.FreeCoTaskMem((nint)path);
            return error == 0 ? pid : -1;
        }
        finally
        {
            Libc.posix_spawn_file_actions_destroy(actions);
            Libc.posix_spawnattr_destroy(attributes);
            NativeMemory.Free(actions);
            NativeMemory.Free(attributes);
            NativeMemory.Free(emptyMask);
            NativeMemory.Free(allSignals);
        }
    }

    /// <summary>
    /// Copies output into the log until the workload's main process has exited, and input from the console channel
    /// to it; returns how it ended. Then whatever the workload left behind goes with it: its process group, and every
    /// process of its <paramref name="cgroups"/> (those that left the group too: <c>setsid</c>, a daemon that detached).
    /// <paramref name="flushPartialLines"/>: a terminal's output is logged as it comes, without waiting for a newline
    /// (a shell's prompt has none).
    /// </summary>
    private static ExitStatus Supervise(CriLogWriter log, int pid, int stdoutRead, int stderrRead, IReadOnlyList<string> cgroups, ConsoleIo? console, bool flushPartialLines)
    {
        var buffer = (byte*)NativeMemory.Alloc(ReadBytes);
        var pidfd = Libc.PidfdOpen(pid);
        var polls = stackalloc Libc.PollFd[5];
        var fds = stackalloc int[2];
        fds[0] = stdoutRead;
        fds[1] = stderrRead;
        var exited = false;
        var waitStatus = 0;
        var finishedAt = default(DateTimeOffset);
        long drainDeadline = 0;

        while (true)
        {
            polls[0] = new Libc.PollFd { Fd = fds[0], Events = Libc.POLLIN };
            polls[1] = new Libc.PollFd { Fd = fds[1], Events = Libc.POLLIN };
            polls[2] = new Libc.PollFd { Fd = exited ? -1 : pidfd, Events = Libc.POLLIN };
            polls[3] = polls[4] = new Libc.PollFd { Fd = -1 };
            if (console is not null && !exited)
            {
                console.Prepare(polls + 3);
            }
            int timeout;
            if (exited)
            {
                if (fds[0] < 0 && fds[1] < 0)
                {
                    break;
                }
                var left = drainDeadline - Environment.TickCount64;
                if (left <= 0)
                {
                    break; // something outside the group still holds the pipes: stop waiting for it
                }
                timeout = (int)left;
            }
            else
            {
                timeout = pidfd >= 0 ? -1 : FallbackPollMs;
                if (console?.NextTimeoutMs() is >= 0 and var nudge && (timeout < 0 || nudge < timeout))
                {
                    timeout = nudge;
                }
            }
            var ready = Libc.poll(polls, 5, timeout);
            if (ready < 0 && Marshal.GetLastPInvokeError() != Libc.EINTR)
            {
                timeout = FallbackPollMs; // unexpected; fall through to waitpid below
            }

            for (var i = 0; i < 2; i++)
            {
                if (fds[i] < 0 || (polls[i].Revents & (Libc.POLLIN | Libc.POLLHUP | Libc.POLLERR | Libc.POLLNVAL)) == 0)
                {
                    continue;
                }
                var stream = i == 0 ? "stdout" : "stderr";
                var n = Libc.read(fds[i], buffer, ReadBytes);
                if (n > 0)
                {
                    log.Write(stream, new ReadOnlySpan<byte>(buffer, (int)n));
                    if (flushPartialLines)
                    {
                        log.EndOfStream(stream);
                    }
                }
                else if (n == 0 || Marshal.GetLastPInvokeError() is not (Libc.EINTR or Libc.EAGAIN))
                {
                    log.EndOfStream(stream);
                    Libc.close(fds[i]);
                    fds[i] = -1;
                }
            }
            log.Flush();
            if (console is not null && !exited)
            {
                console.Handle(polls + 3);
            }

            if (!exited && (pidfd < 0 || (polls[2].Revents != 0)))
            {
                int status;
                if (Libc.waitpid(pid, &status, Libc.WNOHANG) == pid)
                {
                    exited = true;
                    waitStatus = status;
                    finishedAt = DateTimeOffset.UtcNow;
                    // The workload is over; helpers it left behind in its group go with it.
                    s_workloadGroup = 0;
                    Libc.kill(-pid, Signals.SIGKILL);
                    CgroupMembers.KillAll(cgroups, CgroupMembers.KillTimeout);
                    drainDeadline = Environment.TickCount64 + DrainMs;
                    if (pidfd >= 0)
                    {
                        Libc.close(pidfd);
                        pidfd = -1;
                    }
                }
            }
        }
        for (var i = 0; i < 2; i++)
        {
            if (fds[i] >= 0)
            {
                log.EndOfStream(i == 0 ? "stdout" : "stderr");
                Libc.close(fds[i]);
            }
        }
        NativeMemory.Free(buffer);

        var termSignal = waitStatus & 0x7f;
        if (termSignal == 0)
        {
            return new ExitStatus { ExitCode = (waitStatus >> 8) & 0xff, FinishedAt = finishedAt };
        }
        return new ExitStatus { ExitCode = 128 + termSignal, Reason = "signal: " + Signals.Name(termSignal), FinishedAt = finishedAt };
    }

    /// <summary>After a failed exec: keep what the child printed, bounded by the pipes closing when it exits.</summary>
    private static void CopyUntilEof(CriLogWriter log, int stdoutRead, int stderrRead)
    {
        var buffer = stackalloc byte[4096];
        foreach (var (fd, stream) in new[] { (stdoutRead, "stdout"), (stderrRead, "stderr") })
        {
            nint n;
            while ((n = Libc.read(fd, buffer, 4096)) > 0)
            {
                log.Write(stream, new ReadOnlySpan<byte>(buffer, (int)n));
            }
            log.EndOfStream(stream);
            Libc.close(fd);
        }
    }

    /// <summary>The kernel's OOM-kill counter of the memory cgroup (v2 memory.events, v1 memory.oom_control).</summary>
    private static long ReadOomKills(string memoryCgroup)
    {
        foreach (var name in (ReadOnlySpan<string>)["memory.events", "memory.oom_control"])
        {
            try
            {
                foreach (var line in File.ReadAllLines(Path.Combine(memoryCgroup, name)))
                {
                    if (line.StartsWith("oom_kill ", StringComparison.Ordinal)
                        && long.TryParse(line.AsSpan(9), NumberStyles.None, CultureInfo.InvariantCulture, out var count))
                    {
                        return count;
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // try the other cgroup version's file
            }
        }
        return 0;
    }

    private static void WriteExit(SupervisorConfig config, ExitStatus status)
    {
        try
        {
            ExitFile.Write(config.ExitFile, status, durable: !config.VolatileExitFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Nobody to tell: the daemon sees a dead supervisor without an exit file (Lost).
        }
    }

    private static int Handshake(HandshakeLine line)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(line, SupervisionJsonContext.Default.HandshakeLine);
        Libc.WriteAll(1, json);
        Libc.WriteAll(1, "\n"u8);
        return line.Ok ? 0 : 1;
    }

    private static int ReadFully(int fd, byte* buffer, int count)
    {
        var got = 0;
        while (got < count)
        {
            var n = Libc.read(fd, buffer + got, (nuint)(count - got));
            if (n == 0 || (n < 0 && Marshal.GetLastPInvokeError() != Libc.EINTR))
            {
                break;
            }
            if (n > 0)
            {
                got += (int)n;
            }
        }
        return got;
    }

    /// <summary>With 0, 1 or 2 closed, the first pipe would take its number and the workload's stdio would mix up.</summary>
    private static void EnsureStandardDescriptors()
    {
        while (true)
        {
            var fd = Libc.open("/dev/null", Libc.O_RDWR, 0);
            if (fd < 0 || fd > 2)
            {
                if (fd > 2)
                {
                    Libc.close(fd);
                }
                return;
            }
        }
    }

    private static void RedirectStandardDescriptorsToNull()
    {
        var fd = Libc.open("/dev/null", Libc.O_RDWR, 0);
        if (fd < 0)
        {
            return;
        }
        Libc.dup2(fd, 0);
        Libc.dup2(fd, 1);
        Libc.dup2(fd, 2);
        if (fd > 2)
        {
            Libc.close(fd);
        }
    }

    private static void FreeStringArray(byte** array)
    {
        for (var p = array; *p != null; p++)
        {
            Marshal.FreeCoTaskMem((nint)(*p));
        }
        NativeMemory.Free(array);
    }
}
