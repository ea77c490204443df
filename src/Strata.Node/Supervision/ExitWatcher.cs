using System.Runtime.InteropServices;

namespace Strata.Node.Supervision;

/// <summary>
/// Tells when processes end — also processes that are not our children (a supervisor that outlived an
/// earlier daemon), where waitpid cannot be used. One background thread polls a pidfd per watched
/// process (readable once it has exited), plus a wake-up pipe for new registrations. Without pidfd
/// support (Linux &lt; 5.3) the thread checks /proc every 100 ms instead.
/// </summary>
public sealed unsafe class ExitWatcher : IDisposable
{
    private const int FallbackPollMs = 100;

    /// <summary>The watcher the supervised tiers share: one thread for the whole process, started at first use, never disposed.</summary>
    public static ExitWatcher Shared { get; } = new();

    private readonly Lock _lock = new();
    private readonly List<Watch> _watches = [];
    private Thread? _thread;
    private int _wakeRead = -1;
    private int _wakeWrite = -1;
    private bool _disposed;

    /// <summary>
    /// Completes once the process (<paramref name="pid"/>, <paramref name="startTicks"/>) has exited; at once
    /// when it is already gone, a zombie, or the PID now belongs to another process.
    /// </summary>
    public Task WaitForExitAsync(int pid, long startTicks, CancellationToken ct)
    {
        if (ct.IsCancellationRequested)
        {
            return Task.FromCanceled(ct);
        }
        if (!ProcessIdentity.IsAlive(pid, startTicks))
        {
            return Task.CompletedTask;
        }
        var fd = Libc.PidfdOpen(pid);
        // Checked again after opening: if it is still the same process now, the pidfd refers to it.
        if (!ProcessIdentity.IsAlive(pid, startTicks))
        {
            if (fd >= 0)
            {
                Libc.close(fd);
            }
            return Task.CompletedTask;
        }
        var watch = new Watch(pid, startTicks, fd);
        lock (_lock)
        {
            if (_disposed)
            {
                if (fd >= 0)
                {
                    Libc.close(fd);
                }
                throw new ObjectDisposedException(nameof(ExitWatcher));
            }
            EnsureThread();
            _watches.Add(watch);
        }
        if (ct.CanBeCanceled)
        {
            watch.Registration = ct.UnsafeRegister(static (state, token) =>
            {
                var (self, w) = ((ExitWatcher, Watch))state!;
                w.Completion.TrySetCanceled(token);
                self.Wake(); // so the thread closes the pidfd now
            }, (this, watch));
        }
        Wake();
        return watch.Completion.Task;
    }

    public void Dispose()
    {
        Thread? thread;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            thread = _thread;
        }
        Wake();
        thread?.Join();
        lock (_lock)
        {
            foreach (var watch in _watches)
            {
                watch.Close();
                watch.Completion.TrySetException(new ObjectDisposedException(nameof(ExitWatcher)));
            }
            _watches.Clear();
        }
        if (_wakeRead >= 0)
        {
            var (read, write) = (_wakeRead, _wakeWrite);
            _wakeRead = _wakeWrite = -1;
            Libc.close(read);
            Libc.close(write);
        }
    }

    private void EnsureThread()
    {
        if (_thread is not null)
        {
            return;
        }
        var fds = stackalloc int[2];
        if (Libc.pipe2(fds, Libc.O_CLOEXEC | Libc.O_NONBLOCK) != 0)
        {
            throw new IOException("pipe2 failed: " + Libc.ErrorText(Marshal.GetLastPInvokeError()));
        }
        _wakeRead = fds[0];
        _wakeWrite = fds[1];
        _thread = new Thread(Run) { IsBackground = true, Name = "strata-exit-watcher" };
        _thread.Start();
    }

    private void Wake()
    {
        var fd = _wakeWrite;
        if (fd >= 0)
        {
            byte one = 1;
            Libc.write(fd, &one, 1); // a full pipe already means "wake up"
        }
    }

    private void Run()
    {
        var polls = new Libc.PollFd[16];
        var snapshot = new List<Watch>();
        var drain = stackalloc byte[64];
        while (true)
        {
            var needsFallback = false;
            lock (_lock)
            {
                if (_disposed)
                {
                    return;
                }
                // Forget completed (or cancelled) watches.
                for (var i = _watches.Count - 1; i >= 0; i--)
                {
                    if (_watches[i].Completion.Task.IsCompleted)
                    {
                        _watches[i].Close();
                        _watches.RemoveAt(i);
                    }
                }
                snapshot.Clear();
                snapshot.AddRange(_watches);
            }
            if (polls.Length < snapshot.Count + 1)
            {
                polls = new Libc.PollFd[(snapshot.Count + 1) * 2];
            }
            polls[0] = new Libc.PollFd { Fd = _wakeRead, Events = Libc.POLLIN };
            for (var i = 0; i < snapshot.Count; i++)
            {
                // A negative fd is ignored by poll(); such watches are checked through /proc.
                polls[i + 1] = new Libc.PollFd { Fd = snapshot[i].Fd, Events = Libc.POLLIN };
                needsFallback |= snapshot[i].Fd < 0;
            }
            int ready;
            fixed (Libc.PollFd* p = polls)
            {
                ready = Libc.poll(p, (nuint)(snapshot.Count + 1), needsFallback ? FallbackPollMs : -1);
            }
            if (ready < 0 && Marshal.GetLastPInvokeError() != Libc.EINTR)
            {
                Thread.Sleep(FallbackPollMs); // should not happen; never spin
            }
            if ((polls[0].Revents & Libc.POLLIN) != 0)
            {
                while (Libc.read(_wakeRead, drain, 64) > 0)
                {
                }
            }
            for (var i = 0; i < snapshot.Count; i++)
            {
                var watch = snapshot[i];
                var exited = watch.Fd >= 0
                    ? polls[i + 1].Revents != 0
                    : !ProcessIdentity.IsAlive(watch.Pid, watch.StartTicks);
                if (exited)
                {
                    watch.Completion.TrySetResult();
                }
            }
        }
    }

    private sealed class Watch(int pid, long startTicks, int fd)
    {
        public int Pid { get; } = pid;
        public long StartTicks { get; } = startTicks;
        public int Fd { get; private set; } = fd;
        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public CancellationTokenRegistration Registration { get; set; }

        public void Close()
        {
            Registration.Dispose();
            if (Fd >= 0)
            {
                Libc.close(Fd);
                Fd = -1;
            }
        }
    }
}
