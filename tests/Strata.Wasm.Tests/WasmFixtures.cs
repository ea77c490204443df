using System.Diagnostics;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Drivers.Wasm;
using Strata.Node.Logs;

namespace Strata.Wasm.Tests;

/// <summary>Test modules (C compiled with the real clang + wasi-libc, or WebAssembly text) and a driver on a temp root.</summary>
public sealed class WasmTestHost : IDisposable
{
    public WasmTestHost()
    {
        Root = Directory.CreateTempSubdirectory("strata-wasm-test-").FullName;
        Driver = new WasmDriver(new WasmDriverOptions { CacheDirectory = Path.Combine(Root, "cache") }, TimeProvider.System);
    }

    public string Root { get; }
    public WasmDriver Driver { get; }

    public async Task<DriverHandle> CreateAsync(InstanceSpec spec)
    {
        var id = Guid.NewGuid().ToString("N");
        var dir = Path.Combine(Root, "instances", id);
        Directory.CreateDirectory(dir);
        return await Driver.CreateAsync(new CreateRequest { InstanceId = id, Name = "t" + id[..6], Project = "default", Directory = dir, Spec = spec with { Tier = "wasm" } }, CancellationToken.None);
    }

    public async Task<(ExitStatus Exit, string Stdout, string Stderr)> RunAsync(InstanceSpec spec)
    {
        var handle = await CreateAsync(spec);
        await Driver.StartAsync(handle, CancellationToken.None);
        var exit = await Driver.WaitAsync(handle, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
        return (exit, Output(handle, "stdout"), Output(handle, "stderr"));
    }

    public static string Output(DriverHandle handle, string stream) =>
        string.Concat(CriLogReader.ReadTail(LogFiles.LogDirectory(handle.Directory), null).Where(r => r.Stream == stream).Select(r => r.Partial ? r.Text : r.Text + "\n"));

    public string WriteFile(string name, string text)
    {
        var path = Path.Combine(Root, name);
        File.WriteAllText(path, text);
        return path;
    }

    public void Dispose()
    {
        Driver.Dispose();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

public static class WasiClang
{
    /// <summary>Compiles C to a WASI command with Debian's clang + wasi-libc; null (test skipped) when missing outside CI.</summary>
    public static string? Compile(string directory, string name, string source)
    {
        var sysroot = "/usr";
        if (!File.Exists("/usr/lib/wasm32-wasi/libc.a") || !File.Exists("/usr/bin/clang"))
        {
            if (Environment.GetEnvironmentVariable("CI") == "true")
            {
                throw new InvalidOperationException("clang + wasi-libc are missing; install the packages in scripts/deps/wasm.txt");
            }
            return null;
        }
        var c = Path.Combine(directory, name + ".c");
        var wasm = Path.Combine(directory, name + ".wasm");
        File.WriteAllText(c, source);
        var psi = new ProcessStartInfo("clang", ["--target=wasm32-wasi", $"--sysroot={sysroot}", "-O2", "-o", wasm, c]) { RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException("clang failed: " + err);
        }
        return wasm;
    }

    public const string Hello = """
        #include <stdio.h>
        #include <stdlib.h>
        int main(int argc, char **argv) {
          for (int i = 1; i < argc; i++) printf("arg: %s\n", argv[i]);
          const char *foo = getenv("FOO");
          printf("FOO=%s\n", foo ? foo : "(unset)");
          FILE *f = fopen("/data/hello.txt", "w");
          if (!f) { fprintf(stderr, "cannot write /data/hello.txt\n"); return 3; }
          fputs("written by wasm\n", f);
          fclose(f);
          return 7;
        }
        """;

    public const string MemoryHog = """
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        char *kept[100000]; /* keeps the blocks alive, so the compiler cannot drop the allocations */
        int main(void) {
          for (int i = 0; ; i++) {
            char *p = malloc(1 << 20);
            if (!p) { fprintf(stderr, "malloc failed after %d MiB\n", i); abort(); }
            memset(p, 1, 1 << 20);
            kept[i] = p;
          }
        }
        """;
}

public static class Wat
{
    public const string InfiniteLoop = """
        (module
          (memory (export "memory") 1)
          (func (export "_start") (loop $l (br $l))))
        """;

    public const string OutOfBounds = """
        (module
          (memory (export "memory") 1)
          (func (export "_start") (drop (i32.load (i32.const 1000000)))))
        """;

    public const string MissingImport = """
        (module
          (import "env" "host_magic" (func $m))
          (memory (export "memory") 1)
          (func (export "_start") (call $m)))
        """;

    /// <summary>Grows memory one page at a time; traps (unreachable) when a grow is refused.</summary>
    public const string GrowForever = """
        (module
          (memory (export "memory") 1)
          (func (export "_start")
            (loop $l
              (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
              (br $l))))
        """;

    /// <summary>
    /// A stepped counter: each strata_step adds one to the exported global "count", prints it, and asks to be
    /// called again until count reaches 100,000,000.
    /// </summary>
    public const string Counter = """
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (global $count (export "count") (mut i32) (i32.const 0))
          (func $print (param $n i32) (local $p i32) (local $len i32)
            ;; decimal digits backwards from offset 100, then a newline at 100
            (i32.store8 (i32.const 100) (i32.const 10))
            (local.set $p (i32.const 100))
            (loop $d
              (local.set $p (i32.sub (local.get $p) (i32.const 1)))
              (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
              (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
              (br_if $d (i32.ne (local.get $n) (i32.const 0))))
            (i32.store (i32.const 0) (local.get $p))
            (i32.store (i32.const 4) (i32.sub (i32.const 101) (local.get $p)))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
          (func (export "strata_step") (result i32)
            (global.set $count (i32.add (global.get $count) (i32.const 1)))
            (call $print (global.get $count))
            (if (result i32) (i32.ge_u (global.get $count) (i32.const 100000000))
              (then (i32.const 0)) (else (i32.const -1)))))
        """;

    /// <summary>Writes "hello\nworld" (no final newline) to stdout and "err\n" to stderr, then exits 3.</summary>
    public const string PrintAndExit3 = """
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

    /// <summary>Prints "0123456789" on 5,000 lines.</summary>
    public const string ManyLines = """
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 100) "0123456789\n")
          (func (export "_start") (local $i i32)
            (i32.store (i32.const 0) (i32.const 100))
            (i32.store (i32.const 4) (i32.const 11))
            (loop $l
              (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $l (i32.lt_u (local.get $i) (i32.const 5000))))))
        """;

    public const string Exit0 = """
        (module
          (memory (export "memory") 1)
          (func (export "_start")))
        """;
}

public static class Poll
{
    public static async Task UntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("timed out waiting for " + what);
            }
            await Task.Delay(10);
        }
    }
}
