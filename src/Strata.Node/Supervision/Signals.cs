using System.Globalization;
using System.Runtime.InteropServices;

namespace Strata.Node.Supervision;

/// <summary>Sends POSIX signals and names them the way exit reasons show them (<c>signal: SIGKILL</c>).</summary>
public static class Signals
{
    public const int SIGINT = 2;
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;

    private static readonly string[] s_names =
    [
        "", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL",
        "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT",
        "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF",
        "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
    ];

    /// <summary>kill(-pgid, signal): signals every process of the group. False if there is no such group (or no permission).</summary>
    public static bool SendToGroup(int pgid, int signal)
    {
        if (pgid <= 1)
        {
            // kill(-1) would signal every process we may signal; kill(0) our own group. Never intended.
            throw new ArgumentOutOfRangeException(nameof(pgid), pgid, "process group id must be > 1");
        }
        return Libc.kill(-pgid, signal) == 0;
    }

    /// <summary>kill(pid, signal). False if there is no such process (or no permission).</summary>
    public static bool Send(int pid, int signal)
    {
        if (pid <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(pid), pid, "pid must be > 0");
        }
        return Libc.kill(pid, signal) == 0;
    }

    /// <summary>"SIGTERM" for 15; real-time signals as "SIGRTMIN+n"; unknown numbers as "SIG&lt;n&gt;".</summary>
    public static string Name(int signal)
    {
        if (signal > 0 && signal < s_names.Length)
        {
            return s_names[signal];
        }
        // glibc reserves 32 and 33 for itself; SIGRTMIN as applications see it is 34.
        if (signal >= 34 && signal <= 64)
        {
            return "SIGRTMIN+" + (signal - 34).ToString(CultureInfo.InvariantCulture);
        }
        return "SIG" + signal.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The errno of the last failed Send/SendToGroup on this thread (ESRCH = no such process).</summary>
    public static int LastError => Marshal.GetLastPInvokeError();
}
