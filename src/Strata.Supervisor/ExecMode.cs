using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Strata.Node.Supervision;

namespace Strata.Supervisor;

/// <summary>
/// The child side of <c>run</c>: started by posix_spawn with stdio already wired, it joins the
/// workload's cgroups, changes directory, restores default signal handling and execs the workload.
/// A failure is reported on the status pipe (fd given by --status-fd) as 5 bytes: the stage and the
/// errno; a successful exec closes the pipe (it is close-on-exec) without writing anything.
/// </summary>
internal static unsafe class ExecMode
{
    public const byte StageCgroup = 1;
    public const byte StageChdir = 2;
    public const byte StageExec = 3;

    public static int Run(ReadOnlySpan<string> args)
    {
        string? cwd = null;
        var statusFd = -1;
        var cgroupFiles = new List<string>();
        var i = 0;
        for (; i < args.Length && args[i] != "--"; i++)
        {
            if (args[i] == "--cwd" && i + 1 < args.Length)
            {
                cwd = args[++i];
            }
            else if (args[i] == "--status-fd" && i + 1 < args.Length)
            {
                statusFd = int.Parse(args[++i], CultureInfo.InvariantCulture);
            }
            else
            {
                cgroupFiles.Add(args[i]);
            }
        }
        if (i + 1 >= args.Length)
        {
            Program.Error("exec: no command after --");
            return 2;
        }
        var argv = args[(i + 1)..].ToArray();
        if (statusFd >= 0)
        {
            // Inherited without close-on-exec (posix_spawn dup2); set it so a successful exec closes it.
            Libc.fcntl(statusFd, Libc.F_SETFD, Libc.FD_CLOEXEC);
        }

        var pid = Encoding.ASCII.GetBytes(Libc.getpid().ToString(CultureInfo.InvariantCulture));
        foreach (var file in cgroupFiles)
        {
            var fd = Libc.open(file, Libc.O_WRONLY | Libc.O_CLOEXEC, 0);
            var ok = fd >= 0 && Libc.WriteAll(fd, pid);
            var errno = Marshal.GetLastPInvokeError();
            if (fd >= 0)
            {
                Libc.close(fd);
            }
            if (!ok)
            {
                return Fail(statusFd, StageCgroup, errno, "cgroup " + file);
            }
        }
        if (cwd is not null && Libc.chdir(cwd) != 0)
        {
            return Fail(statusFd, StageChdir, Marshal.GetLastPInvokeError(), "chdir " + cwd);
        }

        ResetSignals();
        var nativeArgv = Libc.ToNativeStringArray(argv);
        Libc.execvp(nativeArgv[0], nativeArgv);
        return Fail(statusFd, StageExec, Marshal.GetLastPInvokeError(), "exec " + argv[0]);
    }

    /// <summary>127 when the program does not exist, 126 for every other failure (the shell's convention).</summary>
    public static int ExitCodeFor(byte stage, int errno) => stage == StageExec && errno is Libc.ENOENT or 20 /* ENOTDIR */ ? 127 : 126;

    public static string ReasonFor(byte stage, int errno, string command, string? cwd) => stage switch
    {
        StageCgroup => "cgroup: could not join the instance's cgroup: " + Libc.ErrorText(errno),
        StageChdir => "chdir: " + cwd + ": " + Libc.ErrorText(errno),
        _ => "exec: " + command + ": " + Libc.ErrorText(errno),
    };

    private static int Fail(int statusFd, byte stage, int errno, string what)
    {
        // The message also lands in the workload's stderr log, where a user looks first.
        Program.Error(what + ": " + Libc.ErrorText(errno));
        if (statusFd >= 0)
        {
            Span<byte> report = stackalloc byte[5];
            report[0] = stage;
            BitConverter.TryWriteBytes(report[1..], errno);
            Libc.WriteAll(statusFd, report);
        }
        var code = ExitCodeFor(stage, errno);
        Libc.Exit(code); // no managed shutdown: nothing to flush, and it is quick
        return code;
    }

    /// <summary>
    /// exec keeps ignored signals ignored and the signal mask as is. The .NET runtime ignores SIGPIPE,
    /// which a workload must not inherit (a `yes | head` pipeline would never end), so every ignored
    /// signal is set back to default and nothing stays blocked. Handled signals reset themselves on exec.
    /// </summary>
    private static void ResetSignals()
    {
        var action = stackalloc byte[Libc.OpaqueBytes];
        var defaultAction = stackalloc byte[Libc.OpaqueBytes];
        new Span<byte>(defaultAction, Libc.OpaqueBytes).Clear(); // handler SIG_DFL, no flags, empty mask
        for (var signal = 1; signal < 65; signal++)
        {
            if (signal is Signals.SIGKILL or 19 /* SIGSTOP */)
            {
                continue;
            }
            if (signal is 32 or 33)
            {
                // glibc-internal signals (the runtime ignores one): only the raw syscall may reset them.
                if (Libc.RawSigaction(signal, null, action) == 0 && *(nint*)action == Libc.SIG_IGN)
                {
                    Libc.RawSigaction(signal, defaultAction, null);
                }
                continue;
            }
            if (Libc.sigaction(signal, null, action) == 0 && *(nint*)action == Libc.SIG_IGN)
            {
                Libc.signal(signal, Libc.SIG_DFL);
            }
        }
        var empty = stackalloc byte[Libc.OpaqueBytes];
        new Span<byte>(empty, Libc.OpaqueBytes).Clear();
        Libc.sigprocmask(Libc.SIG_SETMASK, empty, null);
    }
}
