using System.Globalization;
using System.Runtime.InteropServices;
using Wasmtime;

namespace Strata.Node.Drivers.Wasm;

/// <summary>
/// What one wasm run uses, readable from any thread while the run's own thread executes guest code. CPU is the run
/// thread's time on a CPU since the run began (<c>/proc/self/task/TID/schedstat</c>, in nanoseconds; the thread is
/// reused by later runs, so the count starts from its value at this run's start). Memory is the size of the module's
/// linear memories, which only the run's thread may ask Wasmtime for: it writes it down at instantiation and at every
/// epoch tick (10 ms of guest code), so a guest blocked in a host call shows the size it had when it blocked.
/// </summary>
internal sealed partial class WasmUsage
{
    private Memory[] _memories = [];
    private int _tid;
    private long _cpuAtStart;
    private long _memoryBytes;
    private int _ticks;

    /// <summary>Called on the run's thread as it begins.</summary>
    public void Started()
    {
        var tid = GetTid();
        _cpuAtStart = ThreadCpuNanoseconds(tid) ?? 0;
        Volatile.Write(ref _tid, tid);
    }

    /// <summary>Called on the run's thread once the module is instantiated.</summary>
    public void Watch(Instance instance)
    {
        _memories = [.. instance.GetMemories().Select(m => m.Item2)];
        Measure();
    }

    /// <summary>Called on the run's thread at every epoch tick; measures every tenth (≈ 100 ms of guest code).</summary>
    public void Update()
    {
        if (++_ticks % 10 == 0)
        {
            Measure();
        }
    }

    private void Measure()
    {
        long total = 0;
        foreach (var memory in _memories)
        {
            total += memory.GetLength();
        }
        Interlocked.Exchange(ref _memoryBytes, total);
    }

    /// <summary>Linear memory of the run in bytes (its last measurement).</summary>
    public long MemoryBytes => Interlocked.Read(ref _memoryBytes);

    /// <summary>CPU time of the run so far in nanoseconds; 0 before its thread began.</summary>
    public long CpuNanoseconds
    {
        get
        {
            var tid = Volatile.Read(ref _tid);
            return tid == 0 ? 0 : Math.Max(0, (ThreadCpuNanoseconds(tid) ?? _cpuAtStart) - _cpuAtStart);
        }
    }

    private static long? ThreadCpuNanoseconds(int tid)
    {
        try
        {
            var text = File.ReadAllText("/proc/self/task/" + tid.ToString(CultureInfo.InvariantCulture) + "/schedstat");
            var space = text.IndexOf(' ', StringComparison.Ordinal);
            return long.TryParse(space < 0 ? text.Trim() : text[..space], NumberStyles.None, CultureInfo.InvariantCulture, out var ns) ? ns : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    [LibraryImport("libc", EntryPoint = "gettid")]
    private static partial int GetTid();
}
