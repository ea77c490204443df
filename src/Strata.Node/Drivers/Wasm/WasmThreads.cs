using System.Collections.Concurrent;

namespace Strata.Node.Drivers.Wasm;

/// <summary>
/// Dedicated threads for wasm runs, kept for reuse. Every run gets a thread of its own (never a thread-pool
/// thread: a module that computes for minutes must not hold a thread the API needs), but starting an OS thread
/// costs a good part of a short run, so a thread whose run has ended waits for the next one. At most
/// <see cref="MaxIdle"/> threads are kept waiting; more concurrent runs get new threads that end with their run.
/// </summary>
internal sealed class WasmThreads
{
    public const int MaxIdle = 8;
    private const int StackBytes = 8 * 1024 * 1024; // guest code runs on this thread's stack

    private readonly ConcurrentStack<Worker> _idle = new();
    private int _idleCount;
    private long _threadsStarted;

    /// <summary>OS threads started so far (tests check reuse).</summary>
    public long ThreadsStarted => Interlocked.Read(ref _threadsStarted);

    /// <summary>Threads waiting for a run.</summary>
    public int IdleThreads => Volatile.Read(ref _idleCount);

    public void Run(Action work, string name)
    {
        if (_idle.TryPop(out var worker))
        {
            Interlocked.Decrement(ref _idleCount);
            worker.Give(work);
            return;
        }
        Interlocked.Increment(ref _threadsStarted);
        new Worker(this, work).Start(name);
    }

    private bool Park(Worker worker)
    {
        if (Interlocked.Increment(ref _idleCount) > MaxIdle)
        {
            Interlocked.Decrement(ref _idleCount);
            return false;
        }
        _idle.Push(worker);
        return true;
    }

    private sealed class Worker(WasmThreads owner, Action first)
    {
        private readonly SemaphoreSlim _ready = new(0);
        private Action? _work = first;

        public void Start(string name) =>
            new Thread(Loop, StackBytes) { IsBackground = true, Name = name }.Start();

        public void Give(Action work)
        {
            Volatile.Write(ref _work, work);
            _ready.Release();
        }

        private void Loop()
        {
            while (true)
            {
                var work = Interlocked.Exchange(ref _work, null);
                work?.Invoke(); // WasmRun.Run catches everything itself
                if (!owner.Park(this))
                {
                    return;
                }
                _ready.Wait();
            }
        }
    }
}
