using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace Strata.Bench.Core;

/// <summary>
/// Which build of Strata a benchmark runs. Benchmarks measure what users run — the published binaries of
/// <c>scripts/publish-native.sh</c> in <c>artifacts/bin</c> — and say so in their output: a Debug build of
/// <c>stratad</c> (JIT, no optimisation) measured 1.68 × raw runc where the published one measured 1.26 ×.
/// </summary>
public static class MeasuredBuild
{
    /// <summary><c>artifacts/bin</c> of the repository this benchmark was built in (found upwards from the benchmark's own directory).</summary>
    public static string PublishedDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Strata.slnx")))
            {
                return Path.Combine(dir.FullName, "artifacts", "bin");
            }
        }
        return Path.Combine(Environment.CurrentDirectory, "artifacts", "bin");
    }

    /// <summary>
    /// The build configuration of <paramref name="executable"/>: its managed assembly's <c>AssemblyConfiguration</c>
    /// (<c>Release</c>, <c>Debug</c>) for an app host with a .dll beside it, <c>native</c> for a NativeAOT executable.
    /// </summary>
    public static string Configuration(string executable)
    {
        var dll = Path.ChangeExtension(executable, ".dll");
        if (!File.Exists(dll))
        {
            return "native";
        }
        using var stream = File.OpenRead(dll);
        using var pe = new PEReader(stream);
        var reader = pe.GetMetadataReader();
        foreach (var handle in reader.GetAssemblyDefinition().GetCustomAttributes())
        {
            var attribute = reader.GetCustomAttribute(handle);
            if (attribute.Constructor.Kind != HandleKind.MemberReference)
            {
                continue;
            }
            var ctor = reader.GetMemberReference((MemberReferenceHandle)attribute.Constructor);
            if (ctor.Parent.Kind == HandleKind.TypeReference
                && reader.GetString(reader.GetTypeReference((TypeReferenceHandle)ctor.Parent).Name) == "AssemblyConfigurationAttribute")
            {
                var blob = reader.GetBlobReader(attribute.Value);
                blob.ReadUInt16(); // prolog
                return blob.ReadSerializedString() ?? "unknown";
            }
        }
        return "unknown";
    }

    /// <summary>
    /// One line per binary for the benchmark's output (path and build), and an error when <c>stratad</c> is not a
    /// Release build unless <paramref name="allowDebug"/> (then the output says what was measured).
    /// </summary>
    public static string Describe(bool allowDebug, params (string Name, string Path)[] binaries)
    {
        var lines = new List<string>();
        foreach (var (name, path) in binaries)
        {
            var configuration = Configuration(path);
            if (configuration is not ("Release" or "native") && !allowDebug)
            {
                throw new InvalidOperationException(
                    $"{path} is a {configuration} build; benchmarks measure the published build users run: run scripts/publish-native.sh and leave --{name} out (or pass --allow-debug-build to measure it anyway)");
            }
            lines.Add($"  {name,-11} {path} ({configuration})");
        }
        return "measured build:\n" + string.Join('\n', lines);
    }

    /// <summary>
    /// The binaries a benchmark runs: <c>--stratad</c>, <c>--strata</c>, <c>--supervisor</c> (as named in
    /// <paramref name="options"/>) or else the published ones in <see cref="PublishedDirectory"/>. Prints which build
    /// each is (<see cref="Describe"/>) and returns their full paths in the order asked; null after saying why on
    /// standard error when one is missing or is not a Release build without <c>--allow-debug-build</c>.
    /// </summary>
    public static string[]? Resolve(BenchArgs cli, params string[] options)
    {
        ArgumentNullException.ThrowIfNull(cli);
        var published = PublishedDirectory();
        var paths = options.Select(o => Path.GetFullPath(cli.Get("--" + o, Path.Combine(published, o == "supervisor" ? "strata-supervisor" : o)))).ToArray();
        if (paths.FirstOrDefault(p => !File.Exists(p)) is { } missing)
        {
            Console.Error.WriteLine($"{missing} is missing; run scripts/publish-native.sh first");
            return null;
        }
        try
        {
            Console.WriteLine(Describe(cli.Has("--allow-debug-build"), [.. options.Zip(paths)]));
        }
        catch (InvalidOperationException e)
        {
            Console.Error.WriteLine(e.Message);
            return null;
        }
        return paths;
    }

    /// <summary>
    /// For a benchmark that runs Strata's code in its own process (a driver, no stratad): the line that names the build
    /// of the assembly at <paramref name="assemblyPath"/> (this benchmark's own build), and an error unless it is a
    /// Release build or <paramref name="allowDebug"/>.
    /// </summary>
    public static string DescribeInProcess(bool allowDebug, string what, string assemblyPath)
    {
        var configuration = Configuration(assemblyPath);
        if (configuration != "Release" && !allowDebug)
        {
            throw new InvalidOperationException(
                $"this benchmark runs {what} in its own process, and it is a {configuration} build; benchmarks measure the build users run: run it with -c Release (or pass --allow-debug-build to measure it anyway)");
        }
        return $"  {what,-11} in this process ({configuration})";
    }
}
