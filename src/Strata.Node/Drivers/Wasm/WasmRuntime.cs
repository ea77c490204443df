using System.Collections.Concurrent;
using System.Security.Cryptography;
using Strata.Contracts;
using Strata.Contracts.Host;
using Wasmtime;

namespace Strata.Node.Drivers.Wasm;

/// <summary>
/// The one Wasmtime engine of the daemon, the linker every instance is made with (WASI preview 1), the epoch
/// ticker that enforces timeouts and makes modules stoppable (it runs only while a module does), and the compiled-module cache:
///   memory (digest → Module)  →  disk (&lt;cache&gt;/&lt;digest&gt;-&lt;engine key&gt;.cwasm, deserialised, no compile)  →  compile.
/// The engine key names the Wasmtime version and every engine setting that changes generated code, so a
/// cached artifact is never loaded into an engine that did not produce it.
/// </summary>
public sealed class WasmRuntime : IDisposable
{
    /// <summary>How often the epoch advances: the granularity of timeouts and of stop/kill.</summary>
    public static readonly TimeSpan EpochTick = TimeSpan.FromMilliseconds(10);

    public const string WasmtimeVersion = "50.0.1";

    private readonly string _cacheDirectory;
    private readonly ConcurrentDictionary<string, CompiledModule> _modules = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (DateTime Modified, long Length, string Digest)> _fileDigests = new(StringComparer.Ordinal);
    private readonly ITimer _ticker;
    private readonly Lock _tickerLock = new();
    private int _runs;
    private long _compilations;
    private long _diskHits;

    public WasmRuntime(string cacheDirectory, TimeProvider time)
    {
        _cacheDirectory = cacheDirectory;
        using var config = new Config()
            .WithEpochInterruption(true)
            .WithOptimizationLevel(OptimizationLevel.Speed)
            .WithMemoryInitCopyOnWrite(true);
        Engine = new Engine(config);
        EngineKey = "wasmtime" + WasmtimeVersion + "-epoch-speed-" + (Engine.IsPulleyInterpreter ? "pulley" : "cranelift");
        Linker = new Linker(Engine);
        Linker.DefineWasi();
        // Started by the first running module, stopped by the last: an idle daemon is not woken 100 times a second.
        _ticker = time.CreateTimer(_ => Engine.IncrementEpoch(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Whether the epoch is advancing, i.e. some module is running.</summary>
    public bool IsTicking
    {
        get
        {
            lock (_tickerLock)
            {
                return _runs > 0;
            }
        }
    }

    /// <summary>A module starts running: the epoch advances (every <see cref="EpochTick"/>) until every run has called <see cref="RunEnded"/>.</summary>
    internal void RunStarted()
    {
        lock (_tickerLock)
        {
            if (_runs++ == 0)
            {
                _ticker.Change(EpochTick, EpochTick);
            }
        }
    }

    internal void RunEnded()
    {
        lock (_tickerLock)
        {
            if (--_runs == 0)
            {
                _ticker.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }
        }
    }

    public Engine Engine { get; }

    /// <summary>Shared by all instances: defining WASI once is what lets each instantiation skip it.</summary>
    public Linker Linker { get; }

    public string EngineKey { get; }

    /// <summary>Modules compiled by Cranelift since the daemon started (a cache hit does not count).</summary>
    public long Compilations => Interlocked.Read(ref _compilations);

    /// <summary>Modules loaded from the on-disk cache of compiled code.</summary>
    public long DiskCacheHits => Interlocked.Read(ref _diskHits);

    /// <summary>Loads a module, compiling it only when neither the memory nor the disk cache has it.</summary>
    public CompiledModule Load(WasmModuleFile file)
    {
        var digest = CachedDigest(file);
        if (digest is not null && _modules.TryGetValue(digest, out var known))
        {
            return known;
        }

        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(file.Path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw StrataException.Invalid("image", $"cannot read the module {file.Path}: {e.Message}");
        }
        if (file.IsText)
        {
            try
            {
                bytes = Module.ConvertText(System.Text.Encoding.UTF8.GetString(bytes));
            }
            catch (WasmtimeException e)
            {
                throw StrataException.Invalid("image", $"{file.Path} is not valid WebAssembly text: {FirstLine(e.Message)}");
            }
        }
        digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));
        RememberDigest(file, digest);
        if (_modules.TryGetValue(digest, out known))
        {
            return known;
        }
        var compiled = new CompiledModule(digest, LoadOrCompile(file.Path, digest, bytes));
        return _modules.GetOrAdd(digest, compiled);
    }

    private Module LoadOrCompile(string path, string digest, byte[] bytes)
    {
        PrivatePaths.CreateDirectory(_cacheDirectory);
        var artifact = Path.Combine(_cacheDirectory, $"{digest["sha256:".Length..]}-{EngineKey}.cwasm");
        if (File.Exists(artifact))
        {
            try
            {
                var cached = Module.DeserializeFile(Engine, digest, artifact);
                Interlocked.Increment(ref _diskHits);
                return cached;
            }
            catch (WasmtimeException)
            {
                // Corrupt or from another build: compile again and replace it.
            }
        }

        if (bytes.Length < 8 || !bytes.AsSpan(0, 4).SequenceEqual("\0asm"u8))
        {
            throw StrataException.Invalid("image", $"{path} is not a WebAssembly module (no \\0asm header); give a .wasm binary or .wat text");
        }
        Module module;
        try
        {
            module = Module.FromBytes(Engine, digest, bytes);
        }
        catch (WasmtimeException e)
        {
            throw StrataException.Invalid("image", $"{path} is not a valid WebAssembly module: {FirstLine(e.Message)}");
        }
        Interlocked.Increment(ref _compilations);
        try
        {
            var temp = artifact + "." + Environment.ProcessId + ".tmp";
            File.WriteAllBytes(temp, module.Serialize());
            File.Move(temp, artifact, overwrite: true);
        }
        catch (IOException)
        {
            // The cache is an optimisation: a full disk costs a compile next time, nothing more.
        }
        return module;
    }

    private string? CachedDigest(WasmModuleFile file)
    {
        try
        {
            var info = new FileInfo(file.Path);
            if (!info.Exists)
            {
                throw StrataException.Invalid("image", $"the module {file.Path} does not exist");
            }
            return _fileDigests.TryGetValue(file.Path, out var d) && d.Modified == info.LastWriteTimeUtc && d.Length == info.Length ? d.Digest : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private void RememberDigest(WasmModuleFile file, string digest)
    {
        var info = new FileInfo(file.Path);
        _fileDigests[file.Path] = (info.LastWriteTimeUtc, info.Length, digest);
    }

    /// <summary>A module compiled by this process, by digest (after a restart: null until loaded again).</summary>
    public CompiledModule? Find(string digest) => _modules.GetValueOrDefault(digest);

    internal static string FirstLine(string message)
    {
        var line = message.AsSpan().Trim();
        var newline = line.IndexOf('\n');
        return (newline >= 0 ? line[..newline] : line).Trim().ToString();
    }

    public void Dispose()
    {
        _ticker.Dispose();
        Linker.Dispose();
        foreach (var m in _modules.Values)
        {
            m.Module.Dispose();
        }
        Engine.Dispose();
    }
}

/// <summary>A compiled module and what the driver needs to know about its shape.</summary>
public sealed class CompiledModule
{
    public const string StepExport = "strata_step";

    public CompiledModule(string digest, Module module)
    {
        Digest = digest;
        Module = module;
        var exports = module.Exports.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
        IsStepped = exports.Contains(StepExport);
        HasStart = exports.Contains("_start");
        HasInitialize = exports.Contains("_initialize");
        UnsupportedImports = [.. module.Imports.Where(i => i.ModuleName != "wasi_snapshot_preview1").Select(i => $"{i.ModuleName}.{i.Name}")];
    }

    public string Digest { get; }
    public Module Module { get; }

    /// <summary>Exports <c>strata_step</c>: the driver calls it in a loop and can snapshot between calls.</summary>
    public bool IsStepped { get; }
    public bool HasStart { get; }
    public bool HasInitialize { get; }
    public IReadOnlyList<string> UnsupportedImports { get; }
}
