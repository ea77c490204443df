using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Drivers.Wasm;
using Strata.Testing;

namespace Strata.Wasm.Tests;

/// <summary>The wasm driver against the shared driver contract, with modules written as WebAssembly text.</summary>
public sealed class WasmDriverConformanceTests : DriverConformanceTests
{
    private readonly TempDirectory _files = new("strata-wasm-conf");
    private readonly string _cache;

    public WasmDriverConformanceTests()
    {
        _cache = _files.Combine("cache");
    }

    protected override IDriver CreateDriver() => new WasmDriver(new WasmDriverOptions { CacheDirectory = _cache }, TimeProvider.System);

    private string Write(string name, string text)
    {
        var path = _files.Combine(name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>Writes <paramref name="text"/> and a newline to stdout, then calls proc_exit.</summary>
    protected override InstanceSpec EchoAndExit(string text, int exitCode)
    {
        var line = text + "\\n";
        var length = text.Length + 1;
        return new InstanceSpec
        {
            Tier = "wasm",
            Image = Write($"echo-{exitCode}.wat", $$"""
                (module
                  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
                  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
                  (memory (export "memory") 1)
                  (data (i32.const 16) "{{line}}")
                  (func (export "_start")
                    (i32.store (i32.const 0) (i32.const 16))
                    (i32.store (i32.const 4) (i32.const {{length}}))
                    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
                    (call $proc_exit (i32.const {{exitCode}}))))
                """),
        };
    }

    protected override InstanceSpec LongRunning() => new() { Tier = "wasm", Image = Write("loop.wat", Wat.InfiniteLoop) };

    protected override InstanceSpec InvalidForThisTier() => new() { Tier = "wasm", Image = Write("not-wasm.wasm", "this is not a module") };

    public new void Dispose()
    {
        base.Dispose();
        _files.Dispose();
    }
}
