using System.Diagnostics;
using System.Formats.Tar;

namespace Strata.Images.Tests;

/// <summary>A temp directory removed at the end of the test.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = Directory.CreateTempSubdirectory("strata-images-").FullName;
    }

    public string Path { get; }

    public string Sub(string name)
    {
        var p = System.IO.Path.Combine(Path, name);
        Directory.CreateDirectory(p);
        return p;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Builds tar layers in memory, entry by entry, exactly as written (malicious ones included).</summary>
public sealed class TarBuilder
{
    private readonly MemoryStream _stream = new();
    private readonly TarWriter _writer;

    public TarBuilder() => _writer = new TarWriter(_stream, TarEntryFormat.Pax, leaveOpen: true);

    public TarBuilder Dir(string name, int mode = 0b111_101_101) => Add(new PaxTarEntry(TarEntryType.Directory, name) { Mode = (UnixFileMode)mode });

    public TarBuilder File(string name, string content, int mode = 0b110_100_100, int uid = 0, int gid = 0, DateTimeOffset? mtime = null)
    {
        var entry = new PaxTarEntry(TarEntryType.RegularFile, name)
        {
            Mode = (UnixFileMode)mode,
            Uid = uid,
            Gid = gid,
            DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content)),
        };
        if (mtime is { } t)
        {
            entry.ModificationTime = t;
        }
        return Add(entry);
    }

    public TarBuilder Symlink(string name, string target) => Add(new PaxTarEntry(TarEntryType.SymbolicLink, name) { LinkName = target, Mode = (UnixFileMode)0b111_111_111 });

    public TarBuilder HardLink(string name, string target) => Add(new PaxTarEntry(TarEntryType.HardLink, name) { LinkName = target });

    public TarBuilder CharDevice(string name, int major, int minor) =>
        Add(new PaxTarEntry(TarEntryType.CharacterDevice, name) { DeviceMajor = major, DeviceMinor = minor, Mode = (UnixFileMode)0b110_110_110 });

    public TarBuilder Add(TarEntry entry)
    {
        _writer.WriteEntry(entry);
        return this;
    }

    public byte[] Build()
    {
        _writer.Dispose();
        return _stream.ToArray();
    }
}

/// <summary>Where tests find real tools. Missing tools fail under CI=true, and skip with a reason otherwise.</summary>
public static class Tools
{
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static string Require(string path, string package)
    {
        if (File.Exists(path))
        {
            return path;
        }
        var message = $"{path} is missing; install the Debian package '{package}' (scripts/deps/images.txt)";
        if (InCi)
        {
            throw new InvalidOperationException(message);
        }
        throw new Xunit.SkipException(message);
    }

    public static int FreePort() => Strata.Testing.TestEnvironment.FreeLoopbackPort();

    public static bool IsRoot => Environment.UserName == "root";

    public static (int Code, string Output) Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        using var p = Process.Start(start)!;
        var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output);
    }
}
