using System.Runtime.InteropServices;
using System.Text;
using Strata.Node.Supervision;

namespace Strata.Supervisor;

/// <summary>
/// <c>standby</c>: the daemon keeps one supervisor started ahead of time so that a run does not wait for a process
/// start (fork, exec, runtime init: 3 ms on an idle machine, 10 ms and more on a busy one). It waits here for the
/// path of its config; the daemon going away closes the pipe and the spare exits without a trace.
/// </summary>
internal static unsafe class Standby
{
    private const int MaxPathBytes = 4096;

    /// <summary>The first line on stdin, or null at EOF before a full line (the daemon stopped or dropped the spare).</summary>
    public static string? ReadConfigPath()
    {
        var buffer = new byte[MaxPathBytes];
        var length = 0;
        fixed (byte* p = buffer)
        {
            while (length < MaxPathBytes)
            {
                var n = Libc.read(0, p + length, (nuint)(MaxPathBytes - length));
                if (n < 0 && Marshal.GetLastPInvokeError() == Libc.EINTR)
                {
                    continue;
                }
                if (n <= 0)
                {
                    return null;
                }
                var end = Array.IndexOf(buffer, (byte)'\n', length, (int)n);
                length += (int)n;
                if (end >= 0)
                {
                    return end == 0 ? null : Encoding.UTF8.GetString(buffer, 0, end);
                }
            }
        }
        return null;
    }
}
