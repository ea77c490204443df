using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
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

    // A config with every field set: parsing it runs every path the real one will take.
    private static ReadOnlySpan<byte> SampleConfig => """
        {"version":1,"argv":["/bin/true","x"],"env":{"PATH":"/bin"},"workingDir":"/","logDirectory":"/nonexistent",
         "logMaxBytes":1024,"exitFile":"/nonexistent/exit","cgroupProcsFiles":["/nonexistent/cgroup.procs"],
         "memoryCgroup":"/nonexistent","spawnDirectly":true,"volatileExitFile":true}
        """u8;

    /// <summary>
    /// Runs, while nobody waits, the code a start and an exit will need: the JSON of the config, the handshake
    /// and the exit record, and reading a process's start time. A fresh NativeAOT process pays page faults and
    /// one-time initialisation on first use (~1 ms here); the spare pays them before it is needed. Nothing is
    /// written anywhere.
    /// </summary>
    public static void WarmUp()
    {
        _ = JsonSerializer.Deserialize(SampleConfig, SupervisionJsonContext.Default.SupervisorConfig)?.WithDefaults();
        _ = JsonSerializer.SerializeToUtf8Bytes(new HandshakeLine { Ok = true, Pid = 1, PidStartTicks = 1 }, SupervisionJsonContext.Default.HandshakeLine);
        _ = JsonSerializer.SerializeToUtf8Bytes(new ExitFileRecord { ExitCode = 0, Reason = "signal: SIGKILL", FinishedAt = DateTime.UtcNow },
            SupervisionJsonContext.Default.ExitFileRecord);
        _ = ProcessIdentity.TryGetStartTicks(Environment.ProcessId);
        RunMode.RegisterSignalHandlers();
    }

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
