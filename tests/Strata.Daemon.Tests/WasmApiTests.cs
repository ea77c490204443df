using Strata.Client;
using Strata.Contracts;
using Strata.Testing;

namespace Strata.Daemon.Tests;

/// <summary>Wasm runs through the REST API of a real in-process daemon (Wasmtime embedded, WebAssembly text modules).</summary>
public sealed class WasmApiTests : IAsyncLifetime
{
    /// <summary>Writes "hello\nworld" (no final newline) to stdout and "err\n" to stderr, then exits 3.</summary>
    private const string PrintAndExit3 = """
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
          (memory (export "memory") 1)
          (data (i32.const 100) "hello\nworld")
          (data (i32.const 200) "err\n")
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 100))
            (i32.store (i32.const 4) (i32.const 11))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
            (i32.store (i32.const 0) (i32.const 200))
            (i32.store (i32.const 4) (i32.const 4))
            (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
            (call $proc_exit (i32.const 3))))
        """;

    private readonly TempDirectory _modules = new("strata-wasm-api");
    private InProcessDaemon _daemon = null!;
    private StrataClient _client = null!;
    private string _module = null!;

    public async Task InitializeAsync()
    {
        _daemon = await InProcessDaemon.StartAsync();
        _client = _daemon.Client();
        _module = _modules.Combine("print.wat");
        await File.WriteAllTextAsync(_module, PrintAndExit3);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _daemon.DisposeAsync();
        _modules.Dispose();
    }

    private static string Line(LogRecord r) => $"{r.Stream} {r.Text} {(r.Partial ? "P" : "F")}";

    [Fact]
    public async Task AttachedWasmRun_AutoRemove_StreamsOutputAndExitCodeAndLeavesNothing()
    {
        for (var run = 0; run < 3; run++) // the second and later runs take the warm path (cached module, parked thread)
        {
            var frames = new List<StreamFrame>();
            await foreach (var f in _client.RunAttachedAsync(new InstanceSpec { Tier = "wasm", Image = _module, AutoRemove = true }))
            {
                frames.Add(f);
            }

            Assert.Equal("wasm", frames[0].Instance!.Tier);
            Assert.Equal(["stdout hello F", "stderr err F", "stdout world P"], frames.Where(f => f.Log is not null).Select(f => Line(f.Log!)));
            Assert.Equal(3, frames[^1].Exit!.ExitCode);
            Assert.Equal("exited", frames[^1].Exit!.State);
        }
        Assert.True(await TestEnvironment.EventuallyAsync(() => _client.ListAsync().GetAwaiter().GetResult().Items.Count == 0, TimeSpan.FromSeconds(5)));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_daemon.Root, "instances")));
    }

    [Fact]
    public async Task WasmRun_Kept_LogsAreReadFromTheInstanceLogFile()
    {
        var created = await _client.CreateAsync(new InstanceSpec { Name = "kept", Tier = "wasm", Image = _module });
        var exit = await _client.WaitAsync("kept");

        Assert.Equal(3, exit.ExitCode);
        var lines = new List<string>();
        await foreach (var f in _client.LogsAsync("kept"))
        {
            lines.Add(Line(f.Log!));
        }
        Assert.Equal(["stdout hello F", "stderr err F", "stdout world P"], lines);
        Assert.True(File.Exists(Path.Combine(_daemon.Root, "instances", created.Id, "logs", "current.log")));
    }
}
