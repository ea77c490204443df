using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Supervision;

namespace Strata.Node.Drivers.Container;

/// <summary>
/// exec attached to the caller: <c>-i</c> runs <c>runc exec</c> on pipes; <c>-t</c> runs <c>runc exec --tty</c> in the
/// foreground on a pseudo-terminal the daemon owns. runc then creates the container's terminal itself, copies between
/// the two and forwards SIGWINCH (our pty's size) to it, and its exit code is the command's. (With
/// <c>--console-socket</c> runc only hands out the terminal when detached, and a detached exec's exit code is lost.)
/// </summary>
public sealed partial class ContainerDriver
{
    public async Task<ExecSession> StartExecAsync(DriverHandle handle, ExecRequest request, ushort columns, ushort rows, CancellationToken cancellationToken)
    {
        var runtime = await RuntimeAsync(cancellationToken).ConfigureAwait(false);
        var start = await ExecStartAsync(runtime, handle, request, cancellationToken).ConfigureAwait(false);
        if (!request.Tty)
        {
            start.RedirectStandardInput = true;
            start.RedirectStandardOutput = true;
            start.RedirectStandardError = true;
            var process = System.Diagnostics.Process.Start(start) ?? throw new StrataException(ErrorKind.Internal, $"could not start {runtime.Path} exec");
            return new PipeExecSession(process);
        }
        var pty = PseudoTerminal.Open(columns, rows);
        try
        {
            // The runtime's stdio must be the pty's terminal side; Process cannot pass arbitrary fds, so a shell opens it.
            var wrapped = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
            wrapped.ArgumentList.Add("-c");
            wrapped.ArgumentList.Add("exec \"$@\" <\"$STRATA_EXEC_PTS\" >\"$STRATA_EXEC_PTS\" 2>&1");
            wrapped.ArgumentList.Add("sh");
            wrapped.ArgumentList.Add(start.FileName);
            foreach (var a in start.ArgumentList)
            {
                wrapped.ArgumentList.Add(a);
            }
            wrapped.Environment["STRATA_EXEC_PTS"] = pty.TerminalPath;
            // Our stdio stays out of it: the shell redirects all three before the runtime starts.
            wrapped.RedirectStandardInput = true;
            wrapped.RedirectStandardOutput = true;
            wrapped.RedirectStandardError = true;
            var process = System.Diagnostics.Process.Start(wrapped) ?? throw new StrataException(ErrorKind.Internal, $"could not start {runtime.Path} exec --tty");
            process.StandardInput.Close();
            return new TtyExecSession(process, pty);
        }
        catch
        {
            pty.Dispose();
            throw;
        }
    }

    /// <summary>Ends the runtime (it forwards SIGTERM to the command), then kills it if it lingers.</summary>
    private static async Task StopExecAsync(System.Diagnostics.Process process, Task exited)
    {
        if (exited.IsCompleted)
        {
            return;
        }
        Signals.Send(process.Id, Signals.SIGTERM);
        if (await Task.WhenAny(exited, Task.Delay(TimeSpan.FromSeconds(2))).ConfigureAwait(false) != exited)
        {
            Signals.Send(process.Id, Signals.SIGKILL);
            await exited.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
        }
    }

    private sealed class PipeExecSession(System.Diagnostics.Process process) : ExecSession
    {
        private readonly Task<int> _exited = WaitAsync(process);

        public override Stream Input => process.StandardInput.BaseStream;
        public override Stream Output => process.StandardOutput.BaseStream;
        public override Stream? Error => process.StandardError.BaseStream;
        public override Task<int> Exited => _exited;

        private static async Task<int> WaitAsync(System.Diagnostics.Process process)
        {
            await process.WaitForExitAsync().ConfigureAwait(false);
            return process.ExitCode;
        }

        public override ValueTask CloseInputAsync(CancellationToken cancellationToken)
        {
            try
            {
                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // the command already closed its stdin
            }
            return ValueTask.CompletedTask;
        }

        public override void Resize(ushort columns, ushort rows)
        {
        }

        public override async ValueTask DisposeAsync()
        {
            await StopExecAsync(process, _exited).ConfigureAwait(false);
            process.Dispose();
        }
    }

    private sealed class TtyExecSession : ExecSession
    {
        private const int SIGWINCH = 28;
        private readonly System.Diagnostics.Process _process;
        private readonly PseudoTerminal _pty;
        private readonly Task<int> _exited;

        public TtyExecSession(System.Diagnostics.Process process, PseudoTerminal pty)
        {
            _process = process;
            _pty = pty;
            _exited = WaitAsync();
            _ = NudgeSizeAsync();
        }

        /// <summary>
        /// runc copies our size to the container's terminal right after the start, but skips it when it has not yet
        /// received that terminal from its init (a race inside runc); SIGWINCH makes it copy again.
        /// </summary>
        private async Task NudgeSizeAsync()
        {
            foreach (var ms in new[] { 20, 100, 500 })
            {
                if (await Task.WhenAny(_exited, Task.Delay(ms)).ConfigureAwait(false) == _exited)
                {
                    return;
                }
                Signals.Send(_process.Id, SIGWINCH);
            }
        }

        public override Stream Input => _pty.Stream;
        public override Stream Output => _pty.Stream;
        public override Stream? Error => null;
        public override Task<int> Exited => _exited;

        private async Task<int> WaitAsync()
        {
            await _process.WaitForExitAsync().ConfigureAwait(false);
            // Our own hold on the terminal side goes too, so reads of the output end (EIO) once it is drained.
            _pty.CloseTerminal();
            return _process.ExitCode;
        }

        public override async ValueTask CloseInputAsync(CancellationToken cancellationToken)
        {
            // A terminal has no end of input, only the EOF character (what ^D types).
            try
            {
                await _pty.Stream.WriteAsync(new byte[] { 0x04 }, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException)
            {
            }
        }

        public override void Resize(ushort columns, ushort rows)
        {
            _pty.Resize(columns, rows);
            if (!_exited.IsCompleted)
            {
                // The runtime copies our terminal's size to the container's on SIGWINCH.
                Signals.Send(_process.Id, SIGWINCH);
            }
        }

        public override async ValueTask DisposeAsync()
        {
            await StopExecAsync(_process, _exited).ConfigureAwait(false);
            _process.Dispose();
            _pty.Dispose();
        }
    }
}
