using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Wasmtime;

namespace Strata.Node.Drivers.Wasm;

/// <summary>
/// A wasm memory snapshot: every exported linear memory (raw bytes, <c>memory-N.bin</c>) and every exported
/// mutable global (<c>snapshot.json</c>), taken between two <c>strata_step</c> calls, so no guest frame is live.
///
/// What is not captured, and therefore refused or reset:
///  - host handles: files and directories the guest opened through granted mounts live in Wasmtime's WASI
///    table, outside the guest's memory; an instance with mounts is refused (409);
///  - a WASI command's call stack (<c>_start</c> in progress) lives in the engine; command modules are refused;
///  - non-exported mutable globals are re-initialised from the module; for C code (clang/wasi-libc) the only one
///    is <c>__stack_pointer</c>, which is back at its initial value at a step boundary;
///  - tables (function pointers in them come from the module's element segments and stay valid).
/// </summary>
public static class WasmSnapshot
{
    public const int FormatVersion = 1;
    private const string ManifestName = "snapshot.json";

    internal static SnapshotDetails Capture(string directory, CompiledModule module, Instance instance, WasmLaunch launch)
    {
        if (launch.Mounts.Count > 0)
        {
            throw StrataException.Conflict("cannot snapshot a wasm instance with granted host directories (-v): the files it has open are host handles outside its memory and cannot be captured");
        }
        var manifest = new SnapshotManifest { Version = FormatVersion, ModuleDigest = module.Digest };
        long size = 0;
        var index = 0;
        foreach (var (name, memory) in instance.GetMemories())
        {
            var file = $"memory-{index++}.bin";
            var length = memory.GetLength();
            using (var stream = new FileStream(Path.Combine(directory, file), FileMode.CreateNew, FileAccess.Write))
            {
                for (long offset = 0; offset < length; offset += 1 << 30)
                {
                    stream.Write(memory.GetSpan(offset, (int)Math.Min(1 << 30, length - offset)));
                }
            }
            manifest.Memories.Add(new SnapshotMemory { Name = name, File = file, Bytes = length });
            size += length;
        }
        foreach (var (name, global) in instance.GetGlobals())
        {
            if (global.Mutability != Mutability.Mutable)
            {
                continue;
            }
            manifest.Globals.Add(global.Kind switch
            {
                ValueKind.Int32 => new SnapshotGlobal { Name = name, Kind = "i32", Value = ((int)global.GetValue()!).ToString(CultureInfo.InvariantCulture) },
                ValueKind.Int64 => new SnapshotGlobal { Name = name, Kind = "i64", Value = ((long)global.GetValue()!).ToString(CultureInfo.InvariantCulture) },
                ValueKind.Float32 => new SnapshotGlobal { Name = name, Kind = "f32", Value = BitConverter.SingleToInt32Bits((float)global.GetValue()!).ToString(CultureInfo.InvariantCulture) },
                ValueKind.Float64 => new SnapshotGlobal { Name = name, Kind = "f64", Value = BitConverter.DoubleToInt64Bits((double)global.GetValue()!).ToString(CultureInfo.InvariantCulture) },
                _ => throw StrataException.Conflict($"cannot snapshot the exported global '{name}' of type {global.Kind}: references to host or engine objects cannot be captured"),
            });
        }
        File.WriteAllText(Path.Combine(directory, ManifestName), JsonSerializer.Serialize(manifest, SnapshotJsonContext.Default.SnapshotManifest));
        return new SnapshotDetails(SnapshotKind.Memory, size,
            $"{manifest.Memories.Count} memory ({size} bytes), {manifest.Globals.Count} mutable globals, module {module.Digest[..19]}");
    }

    /// <summary>Reads and checks a snapshot before anything starts, so a bad one is a clear error, not a failed run.</summary>
    public static SnapshotManifest Read(string directory, string moduleDigest)
    {
        SnapshotManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize(File.ReadAllText(Path.Combine(directory, ManifestName)), SnapshotJsonContext.Default.SnapshotManifest);
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            throw StrataException.Invalid("snapshot", $"the snapshot in {directory} is unreadable: {e.Message}");
        }
        if (manifest is null || manifest.Version != FormatVersion)
        {
            throw StrataException.Invalid("snapshot", $"the snapshot has format version {manifest?.Version}; this daemon reads version {FormatVersion}");
        }
        if (manifest.ModuleDigest != moduleDigest)
        {
            throw StrataException.Conflict($"the snapshot was taken of module {manifest.ModuleDigest}, but the instance now runs {moduleDigest}; a snapshot restores only into the same module");
        }
        return manifest;
    }

    internal static void Apply(string directory, CompiledModule module, Instance instance)
    {
        var manifest = Read(directory, module.Digest);
        var memories = instance.GetMemories().ToDictionary(m => m.Item1, m => m.Item2, StringComparer.Ordinal);
        foreach (var saved in manifest.Memories)
        {
            if (!memories.TryGetValue(saved.Name, out var memory))
            {
                throw StrataException.Conflict($"the module has no exported memory '{saved.Name}' to restore into");
            }
            var missing = saved.Bytes - memory.GetLength();
            if (missing > 0 && memory.Grow(missing / Memory.PageSize) < 0)
            {
                throw StrataException.Conflict($"cannot grow memory '{saved.Name}' to the snapshot's {saved.Bytes} bytes (memory limit?)");
            }
            using var stream = File.OpenRead(Path.Combine(directory, saved.File));
            for (long offset = 0; offset < saved.Bytes; offset += 1 << 30)
            {
                stream.ReadExactly(memory.GetSpan(offset, (int)Math.Min(1 << 30, saved.Bytes - offset)));
            }
        }
        foreach (var saved in manifest.Globals)
        {
            var global = instance.GetGlobal(saved.Name)
                ?? throw StrataException.Conflict($"the module has no exported global '{saved.Name}' to restore into");
            var bits = long.Parse(saved.Value, CultureInfo.InvariantCulture);
            global.SetValue(saved.Kind switch
            {
                "i32" => (object)(int)bits,
                "i64" => bits,
                "f32" => BitConverter.Int32BitsToSingle((int)bits),
                "f64" => BitConverter.Int64BitsToDouble(bits),
                _ => throw StrataException.Invalid("snapshot", $"unknown global kind '{saved.Kind}'"),
            });
        }
    }
}

public sealed class SnapshotManifest
{
    public int Version { get; set; }
    public string ModuleDigest { get; set; } = "";
    public List<SnapshotMemory> Memories { get; set; } = [];
    public List<SnapshotGlobal> Globals { get; set; } = [];
}

public sealed class SnapshotMemory
{
    public string Name { get; set; } = "";
    public string File { get; set; } = "";
    public long Bytes { get; set; }
}

public sealed class SnapshotGlobal
{
    public string Name { get; set; } = "";
    /// <summary>i32, i64, f32 or f64; the value is the integer (or the float's bits) in decimal.</summary>
    public string Kind { get; set; } = "";
    public string Value { get; set; } = "";
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true)]
[JsonSerializable(typeof(SnapshotManifest))]
internal sealed partial class SnapshotJsonContext : JsonSerializerContext;
