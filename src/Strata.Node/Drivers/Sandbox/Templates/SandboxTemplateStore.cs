using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Contracts.Host;
using Strata.Qemu;
using Strata.Qemu.Guest;
using Strata.Qemu.Templates;

namespace Strata.Node.Drivers.Sandbox.Templates;

/// <summary>
/// The sandbox tier's templates (docs/sandbox.md#templates), one directory per <see cref="SandboxTemplateShape.Key"/>
/// under <c>cache/guest/templates/</c>: <c>memory</c> (the guest's RAM, sparse), <c>state</c> (device state),
/// <c>kernel-setup</c> (the kernel's setup sectors, see <see cref="GuestTemplate.ForRestore"/>) and
/// <c>template.json</c>. A template is made in a <c>.tmp-*</c> directory and renamed into place only when complete
/// and flushed to disk, so a crash while saving (even <c>kill -9</c> of the daemon) leaves only a temporary
/// directory, which is never used and is removed (with its QEMU, should that still run) the next time the store opens.
/// </summary>
internal sealed partial class SandboxTemplateStore
{
    public const string ManifestFileName = "template.json";
    private const string TempPrefix = ".tmp-";
    /// <summary>How long a cold boot to the template point may take (TCG on a loaded host can take tens of seconds).</summary>
    private static readonly TimeSpan BootBudget = TimeSpan.FromSeconds(180);

    private readonly ConcurrentDictionary<string, SemaphoreSlim> _building = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (long Length, DateTime Written, string Sha)> _hashed = new(StringComparer.Ordinal);
    private readonly ILogger _logger;
    private int _swept;

    public SandboxTemplateStore(string directory, ILogger logger, string tier = "sandbox")
    {
        Root = directory;
        _logger = logger;
        Tier = tier;
    }

    public string Root { get; }

    /// <summary>The tier whose templates these are (<c>sandbox</c> or <c>vm</c>), as the log lines name them.</summary>
    public string Tier { get; }

    /// <summary>The valid template for <paramref name="key"/>, or null with the reason it cannot be used (null reason: none made yet).</summary>
    public SandboxTemplateInfo? Find(string key, out string? whyNot)
    {
        SweepOnce();
        whyNot = null;
        var dir = Path.Combine(Root, key);
        var manifest = Path.Combine(dir, ManifestFileName);
        if (!File.Exists(manifest))
        {
            return null;
        }
        try
        {
            var info = Read(dir);
            var memory = new FileInfo(Path.Combine(dir, GuestTemplate.MemoryFileName));
            if (info.Key != key)
            {
                whyNot = $"its manifest names another key ({info.Key})";
            }
            else if (!info.RamInState && (!memory.Exists || memory.Length != GuestRam.Bytes(info.MemoryMiB)))
            {
                whyNot = $"its memory file is {(memory.Exists ? memory.Length.ToString(CultureInfo.InvariantCulture) + " bytes" : "missing")}, not the {GuestRam.Bytes(info.MemoryMiB)} bytes of a {info.MemoryMiB} MiB guest";
            }
            else if (StateSha256(Path.Combine(dir, GuestTemplate.StateFileName)) != info.StateSha256)
            {
                whyNot = "its device state file does not match the checksum it was saved with (damaged or changed)";
            }
            return whyNot is null ? info : null;
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            whyNot = $"it cannot be read ({e.Message})";
            return null;
        }
    }

    private static SandboxTemplateInfo Read(string dir)
    {
        var info = JsonSerializer.Deserialize(File.ReadAllText(Path.Combine(dir, ManifestFileName)), SandboxTemplateJsonContext.Default.SandboxTemplateInfo)
            ?? throw new JsonException("empty manifest");
        if (info.Version != SandboxTemplateInfo.CurrentVersion)
        {
            throw new JsonException($"manifest version {info.Version}, this daemon reads {SandboxTemplateInfo.CurrentVersion}");
        }
        return info with { Directory = dir };
    }

    /// <summary>Every complete template (for <c>strata image ls</c>).</summary>
    public IReadOnlyList<SandboxTemplateInfo> List()
    {
        if (!Directory.Exists(Root))
        {
            return [];
        }
        var list = new List<SandboxTemplateInfo>();
        foreach (var dir in Directory.EnumerateDirectories(Root))
        {
            if (Path.GetFileName(dir).StartsWith('.') || !File.Exists(Path.Combine(dir, ManifestFileName)))
            {
                continue;
            }
            try
            {
                list.Add(Read(dir));
            }
            catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
            {
                // a damaged template shows up nowhere; the next start of its shape replaces it
            }
        }
        return list;
    }

    /// <summary>
    /// Removes the templates <paramref name="which"/> selects (all of an image on <c>image rm</c>, all on <c>prune</c>).
    /// Sandboxes running from one keep their mapping (the file goes when the last one ends). Returns the bytes freed.
    /// </summary>
    public long Remove(Func<SandboxTemplateInfo, bool> which)
    {
        long freed = 0;
        foreach (var t in List().Where(which))
        {
            Discard(t.Key, "removed");
            freed += t.SizeBytes;
        }
        return freed;
    }

    /// <summary>
    /// The template <paramref name="key"/>, made now by <paramref name="create"/> (with <paramref name="progress"/> as the
    /// create's step) when there is none or the one there fails its check (then discarded first). The result's note
    /// is what a start adds after the key: "", " (made by this start)", and " (the previous template was discarded:
    /// WHY)". When the template cannot be made, Template is null and Failure says why; the start boots cold.
    /// </summary>
    public async Task<TemplateLookup> FindOrCreateAsync(string key, string progress, Func<CancellationToken, Task<SandboxTemplateInfo>> create, CancellationToken ct)
    {
        if (Find(key, out var whyNot) is { } found)
        {
            return new TemplateLookup(found, "", null);
        }
        var note = "";
        if (whyNot is not null)
        {
            Discard(key, whyNot);
            note = $" (the previous template was discarded: {whyNot})";
        }
        try
        {
            CreateProgress.Report("template", progress);
            return new TemplateLookup(await create(ct).ConfigureAwait(false), " (made by this start)" + note, null);
        }
        catch (StrataException e) when (e.Kind != ErrorKind.Cancelled)
        {
            return new TemplateLookup(null, note, e.Message);
        }
    }

    /// <summary>Takes a template out of use at once (a rename), then deletes it.</summary>
    public void Discard(string key, string why)
    {
        var dir = Path.Combine(Root, key);
        if (!Directory.Exists(dir))
        {
            return;
        }
        var doomed = Path.Combine(Root, TempPrefix + "gone-" + key[..8] + "-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "-" + RandomSuffix());
        try
        {
            Directory.Move(dir, doomed);
            Directory.Delete(doomed, recursive: true);
            LogDiscarded(Tier, key, why);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>
    /// Makes the template for <paramref name="shape"/>: a cold boot to the point where the guest's init waits for its
    /// parameters (nothing of any workload is in the guest yet), then a save. <paramref name="bootOptions"/> gives the
    /// guest's devices for a directory (the temporary one); the memory backend and setup socket are added here.
    /// One build per key at a time; a concurrent caller waits and gets the same template.
    /// </summary>
    public Task<SandboxTemplateInfo> CreateAsync(SandboxTemplateShape shape, string key, Func<string, CancellationToken, Task<GuestVmOptions>> bootOptions, CancellationToken ct) =>
        CreateAsync(key, shape.ImageDigest, (temp, c) => BootAndSaveAsync(shape, key, temp, bootOptions, c), ct);

    /// <summary>
    /// Makes the template <paramref name="key"/> with <paramref name="bootAndSave"/>, which fills the temporary directory
    /// it is given (its files and <see cref="WriteManifestAsync"/>); the directory is renamed into place only when that
    /// returns. The vm tier makes its templates this way (docs/vm.md#templates).
    /// </summary>
    public async Task<SandboxTemplateInfo> CreateAsync(string key, string image, Func<string, CancellationToken, Task<SandboxTemplateInfo>> bootAndSave, CancellationToken ct)
    {
        var gate = _building.GetOrAdd(key, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (Find(key, out _) is { } ready)
            {
                return ready;
            }
            Discard(key, "replaced");
            PrivatePaths.CreateDirectory(Root);
            var temp = Path.Combine(Root, TempPrefix + key[..8] + "-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "-" + RandomSuffix());
            PrivatePaths.CreateDirectory(temp);
            try
            {
                var info = await bootAndSave(temp, ct).ConfigureAwait(false);
                // QEMU and the shell make the memory and state files by the umask: private like the rest of the data root.
                foreach (var file in Directory.EnumerateFiles(temp))
                {
                    File.SetUnixFileMode(file, PrivatePaths.FileMode);
                }
                var final = Path.Combine(Root, key);
                try
                {
                    Directory.Move(temp, final);
                }
                catch (IOException) when (Find(key, out _) is { } other)
                {
                    return other; // another driver on the same directory (tests) saved the same key first
                }
                LogCreated(Tier, key, image, info.SizeBytes / (1024 * 1024), info.BootMs, info.SaveMs);
                return info with { Directory = final };
            }
            finally
            {
                if (Directory.Exists(temp))
                {
                    KillLeftoverQemu(temp);
                    Directory.Delete(temp, recursive: true);
                }
            }
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task<SandboxTemplateInfo> BootAndSaveAsync(SandboxTemplateShape shape, string key, string temp, Func<string, CancellationToken, Task<GuestVmOptions>> bootOptions, CancellationToken ct)
    {
        var memory = Path.Combine(temp, GuestTemplate.MemoryFileName);
        var state = Path.Combine(temp, GuestTemplate.StateFileName);
        var options = await bootOptions(temp, ct).ConfigureAwait(false) with
        {
            SetupSocket = Path.Combine(temp, GuestTemplate.SetupSocketName),
            ExtraQemuArguments = GuestTemplate.BootArguments(memory, shape.MemoryMiB),
        };
        var plan = QemuVm.Plan(options);
        var clock = Stopwatch.StartNew();
        // In a session of its own, as a supervised QEMU is: the CPU is shared per session first, and this boot is the first
        // start's cost, so it is scheduled like a cold boot rather than inside the daemon's share (and a terminal's Ctrl-C
        // meant for a daemon run in the foreground does not reach it: the daemon ends it).
        var vm = await QemuVm.StartAsync(OwnSession.Of(plan), ct).ConfigureAwait(false);
        await using (vm.ConfigureAwait(false))
        {
            await WaitReadyAsync(vm, plan, ct).ConfigureAwait(false);
            var bootMs = clock.Elapsed.TotalMilliseconds;
            clock.Restart();
            var qmp = await vm.GetQmpAsync(ct).ConfigureAwait(false);
            await GuestTemplate.SaveAsync(qmp, state, ct).ConfigureAwait(false);
            var saveMs = clock.Elapsed.TotalMilliseconds;
            await vm.KillAsync().ConfigureAwait(false);
            foreach (var file in Directory.EnumerateFiles(temp))
            {
                if (file != memory && file != state)
                {
                    File.Delete(file);
                }
            }
            // The kernel's setup sectors, which starts from the template boot with instead of the whole kernel and initramfs.
            var kernelSetup = Path.Combine(temp, GuestTemplate.KernelSetupFileName);
            foreach (var file in GuestTemplate.WriteKernelSetup(options.KernelPath, kernelSetup) ? [memory, state, kernelSetup] : new[] { memory, state })
            {
                using var f = new FileStream(file, FileMode.Open, FileAccess.ReadWrite);
                f.Flush(flushToDisk: true);
            }
            var info = new SandboxTemplateInfo
            {
                Key = key,
                Image = shape.ImageDigest,
                MemoryMiB = shape.MemoryMiB,
                Cpus = shape.Cpus,
                Network = shape.Network,
                CreatedAt = DateTimeOffset.UtcNow,
                StateSha256 = Sha256(state),
                SizeBytes = await AllocatedBytesAsync(temp, ct).ConfigureAwait(false),
                BootMs = Math.Round(bootMs),
                SaveMs = Math.Round(saveMs),
            };
            await WriteManifestAsync(temp, info, ct).ConfigureAwait(false);
            return info;
        }
    }

    /// <summary>Writes <c>template.json</c> into <paramref name="temp"/> and flushes it to disk (the template's last file).</summary>
    public static async Task WriteManifestAsync(string temp, SandboxTemplateInfo info, CancellationToken ct)
    {
        var manifest = Path.Combine(temp, ManifestFileName);
        await using var f = new FileStream(manifest, FileMode.CreateNew, FileAccess.Write);
        await JsonSerializer.SerializeAsync(f, info, SandboxTemplateJsonContext.Default.SandboxTemplateInfo, ct).ConfigureAwait(false);
        f.Flush(flushToDisk: true);
    }

    /// <summary>Waits for init's <see cref="GuestInit.ReadyLine"/> on the control port; a guest that ends or fails first is an error with its reason.</summary>
    private static async Task WaitReadyAsync(QemuVm vm, QemuLaunchPlan plan, CancellationToken ct)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var control = File.Exists(plan.ControlPath) ? await File.ReadAllTextAsync(plan.ControlPath, ct).ConfigureAwait(false) : "";
            if (control.Contains(GuestInit.ReadyLine, StringComparison.Ordinal))
            {
                return;
            }
            if (control.Contains(GuestInit.FailPrefix, StringComparison.Ordinal) || vm.HasExited || deadline.Elapsed > BootBudget)
            {
                var report = QemuVm.ReadGuestReport(plan.ControlPath);
                var serial = File.Exists(plan.SerialLog) ? (await File.ReadAllTextAsync(plan.SerialLog, ct).ConfigureAwait(false)).Trim() : "";
                var why = report.Failure ?? (vm.HasExited ? "QEMU exited" : $"no ready report within {BootBudget.TotalSeconds:0} s");
                throw new StrataException(ErrorKind.Unavailable,
                    $"the template boot failed: {why}{(serial.Length > 0 ? "; console: " + (serial.Length > 500 ? serial[^500..] : serial) : "")}");
            }
            await Task.Delay(20, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Removes what a crashed daemon left mid-save: the temporary directories, and their QEMU if it still runs.</summary>
    private void SweepOnce()
    {
        if (Interlocked.Exchange(ref _swept, 1) != 0)
        {
            return;
        }
        // A template boot a killed daemon left running: found by its command line, also when the daemon's start-up
        // sweep has removed its directory already. This daemon's own builds (its pid in the name) are left alone.
        KillLeftoverQemu(Path.Combine(Root, TempPrefix), "-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "-");
        if (!Directory.Exists(Root))
        {
            return;
        }
        foreach (var dir in Directory.EnumerateDirectories(Root, TempPrefix + "*"))
        {
            var parts = Path.GetFileName(dir).Split('-');
            if (parts.Length >= 4 && int.TryParse(parts[^2], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid == Environment.ProcessId)
            {
                continue; // this daemon's own build in progress
            }
            KillLeftoverQemu(dir);
            try
            {
                Directory.Delete(dir, recursive: true);
                LogSwept(Tier, dir);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>
    /// The template boot's QEMU (and anything else still running with <paramref name="dir"/> on its command line), found
    /// by scanning /proc (its pid file is not trusted: QEMU may not have written it yet when its daemon died).
    /// </summary>
    private static void KillLeftoverQemu(string dir) => KillLeftoverQemu(dir + "/", null);

    private static void KillLeftoverQemu(string pattern, string? unlessContains)
    {
        foreach (var proc in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(proc), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(proc, "cmdline"));
                var at = cmdline.IndexOf(pattern, StringComparison.Ordinal);
                if (at >= 0 && (unlessContains is null || !cmdline[(at + pattern.Length)..].Split('/', 2)[0].Contains(unlessContains, StringComparison.Ordinal)))
                {
                    Strata.Node.Supervision.Signals.Send(pid, Strata.Node.Supervision.Signals.SIGKILL);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // gone already
            }
        }
    }

    internal static async Task<long> AllocatedBytesAsync(string dir, CancellationToken ct)
    {
        var du = await HostTool.RunAsync("du", ["-s", "--block-size=1", dir], new HostToolOptions { Timeout = TimeSpan.FromSeconds(30) }, ct).ConfigureAwait(false);
        return du.Succeeded && long.TryParse(du.Stdout.Split('\t', ' ')[0], NumberStyles.None, CultureInfo.InvariantCulture, out var bytes) ? bytes : 0;
    }

    /// <summary>
    /// The state file's SHA-256, hashed again only when its size or modification time changed since this store last
    /// hashed it: a vm template's state holds the guest's RAM (≈ 100 MiB, half a second of hashing at every start).
    /// </summary>
    private string StateSha256(string path)
    {
        var file = new FileInfo(path);
        if (_hashed.TryGetValue(path, out var known) && known.Length == file.Length && known.Written == file.LastWriteTimeUtc)
        {
            return known.Sha;
        }
        var sha = Sha256(path);
        _hashed[path] = (file.Length, file.LastWriteTimeUtc, sha);
        return sha;
    }

    internal static string Sha256(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }

    private static string RandomSuffix() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));

    [LoggerMessage(EventId = 3420, Level = LogLevel.Information, Message = "{Tier} template {Key} for {Image} saved: {SizeMiB} MiB on disk, boot {BootMs:0} ms, save {SaveMs:0} ms")]
    private partial void LogCreated(string tier, string key, string image, long sizeMiB, double bootMs, double saveMs);

    [LoggerMessage(EventId = 3421, Level = LogLevel.Warning, Message = "{Tier} template {Key} discarded: {Why}")]
    private partial void LogDiscarded(string tier, string key, string why);

    [LoggerMessage(EventId = 3422, Level = LogLevel.Information, Message = "removed {Dir}, a {Tier} template save that never finished")]
    private partial void LogSwept(string tier, string dir);
}

/// <summary>What <see cref="SandboxTemplateStore.FindOrCreateAsync"/> found or made (see there).</summary>
public sealed record TemplateLookup(SandboxTemplateInfo? Template, string Note, string? Failure);
