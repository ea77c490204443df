using System.Text.Json;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Drivers.Wasm;
using Strata.Testing;
using Xunit;

namespace Strata.Wasm.Tests;

public sealed class WasmDriverTests : IDisposable
{
    private readonly WasmTestHost _host = new();

    public void Dispose() => _host.Dispose();

    [Fact]
    public async Task Run_CProgramWithGrantedDir_PrintsArgsEnvWritesFileAndExits7()
    {
        var wasm = WasiClang.Compile(_host.Root, "hello", WasiClang.Hello);
        if (wasm is null)
        {
            return; // clang + wasi-libc missing and not in CI
        }
        var data = Directory.CreateDirectory(Path.Combine(_host.Root, "data")).FullName;

        var (exit, stdout, _) = await _host.RunAsync(new InstanceSpec
        {
            Image = wasm,
            Args = ["a", "b"],
            Env = new Dictionary<string, string> { ["FOO"] = "bar" },
            Mounts = [new MountSpec { Source = data, Target = "/data" }],
        });

        Assert.Equal(7, exit.ExitCode);
        Assert.False(exit.Failed);
        Assert.Equal("arg: a\narg: b\nFOO=bar\n", stdout);
        Assert.Equal("written by wasm\n", File.ReadAllText(Path.Combine(data, "hello.txt")));
    }

    [Fact]
    public async Task Run_CProgramWithoutGrant_WriteFailsInsideAndNothingAppears()
    {
        var wasm = WasiClang.Compile(_host.Root, "hello", WasiClang.Hello);
        if (wasm is null)
        {
            return;
        }
        var (exit, _, stderr) = await _host.RunAsync(new InstanceSpec { Image = wasm });

        Assert.Equal(3, exit.ExitCode);
        Assert.Contains("cannot write /data/hello.txt", stderr);
        Assert.False(File.Exists("/data/hello.txt") && File.GetLastWriteTimeUtc("/data/hello.txt") > DateTime.UtcNow.AddMinutes(-1));
    }

    [Fact]
    public async Task Run_InfiniteLoopWithTimeout_FailsWithTimeoutReason()
    {
        var started = DateTime.UtcNow;
        var (exit, _, _) = await _host.RunAsync(new InstanceSpec { Image = _host.WriteFile("loop.wat", Wat.InfiniteLoop), TimeoutSeconds = 0.3 });

        Assert.True(exit.Failed);
        Assert.Equal(124, exit.ExitCode);
        Assert.StartsWith("limit: timeout", exit.Reason);
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromSeconds(0.25), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Run_GrowingPastMemoryLimit_FailsWithMemoryReason()
    {
        var (exit, _, _) = await _host.RunAsync(new InstanceSpec
        {
            Image = _host.WriteFile("grow.wat", Wat.GrowForever),
            Resources = new ResourceSpec { MemoryBytes = 8 << 20 },
        });

        Assert.True(exit.Failed);
        Assert.True(exit.OomKilled);
        Assert.StartsWith("limit: memory", exit.Reason);
    }

    [Fact]
    public async Task Run_CMallocPastMemoryLimit_FailsWithMemoryReason()
    {
        var wasm = WasiClang.Compile(_host.Root, "hog", WasiClang.MemoryHog);
        if (wasm is null)
        {
            return;
        }
        var (exit, _, stderr) = await _host.RunAsync(new InstanceSpec { Image = wasm, Resources = new ResourceSpec { MemoryBytes = 16 << 20 } });

        Assert.True(exit.Failed);
        Assert.StartsWith("limit: memory", exit.Reason);
        Assert.Contains("malloc failed", stderr);
    }

    [Fact]
    public async Task Run_OutOfBoundsLoad_FailsWithTrapReason()
    {
        var (exit, _, _) = await _host.RunAsync(new InstanceSpec { Image = _host.WriteFile("oob.wat", Wat.OutOfBounds) });

        Assert.True(exit.Failed);
        Assert.Equal("trap: out of bounds memory access", exit.Reason);
    }

    [Fact]
    public async Task Create_NotWasm_IsInvalidArgument()
    {
        var e = await Assert.ThrowsAsync<StrataException>(() => _host.CreateAsync(new InstanceSpec { Image = _host.WriteFile("bad.wasm", "#!/bin/sh\necho hi\n") }));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Contains("not a WebAssembly module", e.Message);
    }

    [Fact]
    public async Task Create_TruncatedModule_IsInvalidArgument()
    {
        var bytes = Wasmtime.Module.ConvertText(Wat.Counter);
        var path = Path.Combine(_host.Root, "truncated.wasm");
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        var e = await Assert.ThrowsAsync<StrataException>(() => _host.CreateAsync(new InstanceSpec { Image = path }));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Contains("not a valid WebAssembly module", e.Message);
    }

    [Fact]
    public async Task Create_MissingImport_IsInvalidArgumentNamingIt()
    {
        var e = await Assert.ThrowsAsync<StrataException>(() => _host.CreateAsync(new InstanceSpec { Image = _host.WriteFile("imp.wat", Wat.MissingImport) }));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Contains("env.host_magic", e.Message);
    }

    [Fact]
    public async Task Create_MissingFile_IsInvalidArgument()
    {
        var e = await Assert.ThrowsAsync<StrataException>(() => _host.CreateAsync(new InstanceSpec { Image = Path.Combine(_host.Root, "nope.wasm") }));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
    }

    [Fact]
    public async Task Load_SecondDriverSameCache_DoesNotCompile()
    {
        var path = _host.WriteFile("exit0.wat", Wat.Exit0);
        await _host.RunAsync(new InstanceSpec { Image = path });
        await _host.RunAsync(new InstanceSpec { Image = path });
        Assert.Equal(1, _host.Driver.Runtime.Compilations);

        // A new daemon (new engine) with the same cache directory loads the compiled code from disk.
        using var second = new WasmDriver(new WasmDriverOptions { CacheDirectory = Path.Combine(_host.Root, "cache") }, TimeProvider.System);
        second.Runtime.Load(new WasmModuleFile(path, IsText: true));
        Assert.Equal(0, second.Runtime.Compilations);
        Assert.Equal(1, second.Runtime.DiskCacheHits);
    }

    [Fact]
    public async Task EpochTicker_RunsOnlyWhileAModuleRuns()
    {
        var handle = await _host.CreateAsync(new InstanceSpec { Image = _host.WriteFile("loop.wat", Wat.InfiniteLoop) });
        Assert.False(_host.Driver.Runtime.IsTicking);
        await _host.Driver.StartAsync(handle, CancellationToken.None);
        Assert.True(_host.Driver.Runtime.IsTicking);
        await _host.Driver.KillAsync(handle, 9, CancellationToken.None); // ends at the next tick: needs the ticker
        await _host.Driver.WaitAsync(handle, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(await TestEnvironment.EventuallyAsync(() => !_host.Driver.Runtime.IsTicking, TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(10)));
    }

    [Fact]
    public async Task Kill_RunningLoop_EndsWithSignal()
    {
        var handle = await _host.CreateAsync(new InstanceSpec { Image = _host.WriteFile("loop.wat", Wat.InfiniteLoop) });
        await _host.Driver.StartAsync(handle, CancellationToken.None);
        await _host.Driver.KillAsync(handle, 9, CancellationToken.None);
        var exit = await _host.Driver.WaitAsync(handle, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(137, exit.ExitCode);
        Assert.False(exit.Failed);
    }

    [Fact]
    public async Task SnapshotRestore_Counter_ContinuesFromSnapshotInNewInstance()
    {
        var path = _host.WriteFile("counter.wat", Wat.Counter);
        var first = await _host.CreateAsync(new InstanceSpec { Image = path });
        await _host.Driver.StartAsync(first, CancellationToken.None);
        await Poll.UntilAsync(() => WasmTestHost.Output(first, "stdout").Split('\n').Length > 1000, TimeSpan.FromSeconds(20), "the counter to pass 1000");

        var snapDir = Directory.CreateDirectory(Path.Combine(_host.Root, "snap")).FullName;
        var details = await _host.Driver.SnapshotAsync(first, snapDir, CancellationToken.None);
        await _host.Driver.StopAsync(first, TimeSpan.Zero, CancellationToken.None);
        await _host.Driver.WaitAsync(first, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(SnapshotKind.Memory, details.Kind);
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(snapDir, "snapshot.json")));
        var saved = int.Parse(manifest.RootElement.GetProperty("globals").EnumerateArray().Single(g => g.GetProperty("name").GetString() == "count").GetProperty("value").GetString()!);
        Assert.True(saved >= 1000, $"snapshot taken at {saved}");

        var second = await _host.CreateAsync(new InstanceSpec { Image = path });
        await _host.Driver.RestoreAsync(second, snapDir, CancellationToken.None);
        await Poll.UntilAsync(() => WasmTestHost.Output(second, "stdout").Contains('\n'), TimeSpan.FromSeconds(10), "the restored counter's first line");
        await _host.Driver.KillAsync(second, 9, CancellationToken.None);

        var firstLine = WasmTestHost.Output(second, "stdout").Split('\n')[0];
        Assert.Equal(saved + 1, int.Parse(firstLine));
    }

    [Fact]
    public async Task Snapshot_CommandModule_IsRefusedWithReason()
    {
        var handle = await _host.CreateAsync(new InstanceSpec { Image = _host.WriteFile("loop.wat", Wat.InfiniteLoop) });
        await _host.Driver.StartAsync(handle, CancellationToken.None);
        var e = await Assert.ThrowsAsync<StrataException>(() => _host.Driver.SnapshotAsync(handle, _host.Root, CancellationToken.None));
        await _host.Driver.KillAsync(handle, 9, CancellationToken.None);
        Assert.Equal(ErrorKind.Conflict, e.Kind);
        Assert.Contains("cannot be captured", e.Message);
    }

    [Fact]
    public async Task Snapshot_WithGrantedDirectory_IsRefusedWithReason()
    {
        var data = Directory.CreateDirectory(Path.Combine(_host.Root, "d")).FullName;
        var handle = await _host.CreateAsync(new InstanceSpec { Image = _host.WriteFile("counter.wat", Wat.Counter), Mounts = [new MountSpec { Source = data, Target = "/d" }] });
        await _host.Driver.StartAsync(handle, CancellationToken.None);
        var e = await Assert.ThrowsAsync<StrataException>(() => _host.Driver.SnapshotAsync(handle, _host.Root, CancellationToken.None));
        await _host.Driver.KillAsync(handle, 9, CancellationToken.None);
        Assert.Equal(ErrorKind.Conflict, e.Kind);
        Assert.Contains("host", e.Message);
    }
}
