using System.Diagnostics;
using System.Globalization;
using Strata.Client;
using Strata.Contracts;

namespace Strata.Bench.Core;

/// <summary>
/// Runs <c>strata bench</c> against a daemon through <see cref="StrataClient"/>: per tier an idle phase (warm-up,
/// CPU-bound kernel, memory, bounded density, snapshot), then start-latency rounds alternating every tier with its
/// baselines (A B C A B C …, so machine noise hits all alike). Every instance it creates is named <c>bench-…</c>,
/// labelled <c>strata-bench=RUN</c> and removed before <see cref="RunAsync"/> returns — also when cancelled or failed.
/// </summary>
public sealed class BenchEngine(StrataClient client, BenchOptions options, IHostProbe probe, IProgress<BenchProgress>? progress = null)
{
    public const string CpuMarker = "strata-bench-cpu";
    public const string IdleMarker = "strata-bench-idle";
    private static readonly string[] SlowTiers = [TierNames.Sandbox, TierNames.Vm];
    private static readonly string[] Order = [TierNames.Process, TierNames.Container, TierNames.Wasm, TierNames.Sandbox, TierNames.Vm, "fake"];

    private readonly List<string> _notes = [];
    private int _done;
    private int _total;

    public async Task<BenchReport> RunAsync(CancellationToken ct)
    {
        var started = Stopwatch.StartNew();
        var time = DateTimeOffset.UtcNow;
        var load = probe.LoadAverage();
        var info = await client.InfoAsync(ct).ConfigureAwait(false);
        var runId = Guid.NewGuid().ToString("N")[..6];
        var tracker = new InstanceTracker(runId);
        var machine = Describe(info, load);
        var tiers = SelectTiers(info);
        await using var kit = new BaselineKit(options.WorkDirectory, runId);
        var results = new Dictionary<string, TargetResult>();
        try
        {
            var leftovers = await RemoveLeftoversAsync(client, ct).ConfigureAwait(false);
            if (leftovers.Count > 0)
            {
                var said = LeftoversRemoved(leftovers);
                Report("cleanup", said);
                _notes.Add(said);
            }
            var busybox = probe.Which("busybox");
            var needsImage = tiers.Any(t => t.Name is TierNames.Container or TierNames.Sandbox or TierNames.Vm);
            if (needsImage)
            {
                await EnsureImageAsync(ct).ConfigureAwait(false);
            }
            var targets = new List<IBenchTarget>();
            var available = tiers.Where(t => t.Available).Select(t => t.Name).ToList();
            _total = available.Count(t => t != TierNames.Wasm) + 1;
            foreach (var t in tiers.Where(t => !t.Available))
            {
                results[t.Name] = new TargetResult { Name = t.Name, Kind = "tier", Label = $"strata run --rm --tier {t.Name}", Skipped = $"not available here: {t.Reason}" };
            }

            // Idle phase first: it warms every tier's caches (the sandbox's disk and initramfs that raw QEMU reuses).
            foreach (var tier in available)
            {
                var outcome = tier == TierNames.Wasm ? WasmIdle(kit) : await IdleAsync(tier, busybox, tracker, info, ct).ConfigureAwait(false);
                results[tier] = outcome;
            }

            // Baselines.
            var baselines = await PrepareBaselinesAsync(client, tracker, kit, busybox, available, info, results, ct).ConfigureAwait(false);

            // Start-latency rounds.
            foreach (var tier in available)
            {
                var slow = SlowTiers.Contains(tier);
                var baseline = tier switch
                {
                    TierNames.Process => "direct",
                    TierNames.Container => "runc",
                    TierNames.Sandbox => "qemu",
                    _ => null,
                };
                targets.Add(new TierTarget(client, tier, TrivialSpec(tier, busybox, kit), tracker, slow, baseline, info.Tiers.FirstOrDefault(t => t.Tier == tier)?.Engine));
                targets.AddRange(baselines.Where(b => b.After == tier).Select(b => b.Target));
            }
            _total = _done + targets.Sum(t => (t.Slow ? options.SlowRuns : options.Runs + 1));
            var samples = await RoundsAsync(targets, ct).ConfigureAwait(false);
            foreach (var target in targets)
            {
                var (first, exit, errors) = samples[target.Name];
                var existing = results.GetValueOrDefault(target.Name) ?? new TargetResult { Name = target.Name, Kind = target.Kind, Label = target.Label };
                results[target.Name] = existing with
                {
                    Kind = target.Kind,
                    Label = target.Label,
                    Baseline = target.Baseline,
                    Engine = target.Engine ?? existing.Engine,
                    FirstOutput = BenchStatistics.Summarize(first),
                    Exit = BenchStatistics.Summarize(exit),
                    Errors = [.. existing.Errors, .. errors],
                };
            }
        }
        finally
        {
            await CleanupAsync(tracker).ConfigureAwait(false);
        }

        // CPU ratios against the process tier, now that all kernels are known.
        var processKernel = results.GetValueOrDefault(TierNames.Process)?.Cpu?.KernelMs;
        foreach (var (name, r) in results.ToList())
        {
            if (r.Cpu is { KernelMs: { } ms } c)
            {
                results[name] = r with { Cpu = c with { RatioToProcess = BenchStatistics.Ratio(ms, processKernel) } };
            }
        }
        if (machine.Accelerator == "TCG" && results.Keys.Any(SlowTiers.Contains))
        {
            _notes.Add("KVM is not usable here: the sandbox and vm tiers run their guests under TCG (software emulation). Their CPU overhead is " +
                "emulation, not the hardware-assisted virtualization the article's '< 5 %' claim is about.");
        }
        var ordered = results.Values.OrderBy(r => OrderOf(r.Name)).ToList();
        return new BenchReport
        {
            Time = time,
            Quick = options.Quick,
            DurationSeconds = Math.Round(started.Elapsed.TotalSeconds, 1),
            Machine = machine with { LoadAtEnd = probe.LoadAverage() },
            Targets = ordered,
            Tiers = ordered.Where(r => r.Kind == "tier" && TierNames.UserTiers.Any(u => u.ToName() == r.Name) && (r.FirstOutput ?? r.Exit) is not null)
                .ToDictionary(r => r.Name, r => new TierCostEntry((r.FirstOutput ?? r.Exit)!.MedianMs,
                    $"strata bench {time:yyyy-MM-dd}" + (SlowTiers.Contains(r.Name) && machine.Accelerator != "unknown" ? $", {machine.Accelerator}" : ""))),
            Notes = [.. _notes],
        };
    }

    private static int OrderOf(string name)
    {
        // Tiers in the article's order, each baseline after the tier it is compared with.
        var index = Array.IndexOf(Order, name);
        return name switch
        {
            "direct" => 1,
            "runc" => 11,
            "runc-defaults" => 12,
            "podman" => 13,
            "qemu" => 31,
            _ => index < 0 ? 100 : index * 10,
        };
    }

    private sealed record TierChoice(string Name, bool Available, string Reason);

    private List<TierChoice> SelectTiers(DaemonInfo info)
    {
        var known = info.Tiers.ToDictionary(t => t.Tier);
        var names = options.Tiers ?? [.. info.Tiers.Where(t => t.Tier != "fake").Select(t => t.Tier)];
        var list = new List<TierChoice>();
        foreach (var name in names)
        {
            if (!known.TryGetValue(name, out var t))
            {
                throw new StrataException(ErrorKind.InvalidArgument, $"--tiers: '{name}' is not a tier of this daemon; it has {string.Join(", ", known.Keys)}");
            }
            list.Add(new TierChoice(name, t.Available, t.Reason));
        }
        return [.. list.OrderBy(t => OrderOf(t.Name))];
    }

    private MachineDescription Describe(DaemonInfo info, string? load)
    {
        var versions = new Dictionary<string, string>();
        foreach (var (tool, arg) in new[] { ("runc", "--version"), ("crun", "--version"), ("qemu-system-x86_64", "--version"), ("podman", "--version"), ("wasmtime", "--version"), ("busybox", "--help") })
        {
            if (probe.Version(tool, arg) is { } v)
            {
                versions[tool] = v;
            }
        }
        foreach (var t in info.Tiers.Where(t => t.Engine is not null && t.Tier != "fake"))
        {
            versions["tier " + t.Tier] = t.Engine!;
        }
        var guestTier = info.Tiers.FirstOrDefault(t => t.Tier == TierNames.Sandbox && t.Available) ?? info.Tiers.FirstOrDefault(t => t.Tier == TierNames.Vm && t.Available);
        var reason = guestTier?.Reason.ToLowerInvariant() ?? "";
        var accel = reason.Contains("kvm (", StringComparison.Ordinal) || reason.Contains("kvm works", StringComparison.Ordinal) ? "KVM"
            : reason.Contains("tcg", StringComparison.Ordinal) ? "TCG" : "unknown";
        return new MachineDescription
        {
            Cpus = info.Host.Cpus,
            MemoryBytes = info.Host.MemoryBytes,
            Kernel = info.Host.Kernel,
            Arch = info.Host.Arch,
            Cgroups = info.Host.Cgroups,
            Accelerator = accel,
            AcceleratorNote = guestTier?.Reason,
            LoadAtStart = load,
            StrataVersion = info.Version,
            Versions = versions,
        };
    }

    private async Task EnsureImageAsync(CancellationToken ct)
    {
        try
        {
            await client.InspectImageAsync(options.Image, ct).ConfigureAwait(false);
        }
        catch (StrataApiException e) when (e.Kind == ErrorKind.NotFound)
        {
            Report("prepare", $"building the {options.Image} base image (strata image build-base)");
            await client.BuildBaseImageAsync(options.Image.Split(':')[0], ct).ConfigureAwait(false);
            _notes.Add($"built the {options.Image} image with 'strata image build-base' (it stays in the image store)");
        }
    }

    private InstanceSpec TrivialSpec(string tier, string? busybox, BaselineKit kit) => tier switch
    {
        TierNames.Process => new InstanceSpec { Command = busybox is null ? ["/bin/echo", "bench"] : [busybox, "echo", "bench"] },
        TierNames.Wasm => new InstanceSpec { Image = kit.WasmModule },
        "fake" => new InstanceSpec { Args = ["echo", "bench"] },
        _ => new InstanceSpec { Image = options.Image, Args = ["echo", "bench"] },
    };

    /// <summary>The CPU-bound kernel: a busybox shell loop timed inside the workload with /proc/uptime (10 ms resolution).</summary>
    public static string KernelScript(int iterations) =>
        "read a x </proc/uptime; i=0; while [ $i -lt " + iterations.ToString(CultureInfo.InvariantCulture) + " ]; do i=$((i+1)); done; " +
        "read b x </proc/uptime; echo " + CpuMarker + " $a $b; exec sleep 3600";

    private static string IdleScript => "echo " + IdleMarker + "; exec sleep 3600";

    private InstanceSpec IdleSpec(string tier, string? busybox, bool kernel)
    {
        var script = kernel ? KernelScript(options.CpuIterations) : IdleScript;
        return tier switch
        {
            TierNames.Process => new InstanceSpec { Command = busybox is null ? ["/bin/sh", "-c", script] : [busybox, "sh", "-c", script] },
            "fake" => new InstanceSpec { Args = ["sleep"] },
            _ => new InstanceSpec { Image = options.Image, Args = ["sh", "-c", script] },
        };
    }

    private TargetResult WasmIdle(BaselineKit kit) => new()
    {
        Name = TierNames.Wasm,
        Kind = "tier",
        Label = "strata run --rm --tier wasm",
        Size = new SizeResult(new FileInfo(kit.WasmModule).Length, "WASI module (text format)"),
        Memory = new MemoryResult(null, "per instance", "wasm instances run inside the daemon (no process of their own), so there is no per-instance PSS to read"),
        Density = new DensityResult(0, 0, null, null, "not measured: see memory"),
        Cpu = new CpuResult(null, null, "busybox sh loop", "not comparable: a wasm module has no shell to run the same kernel"),
        Snapshot = new SnapshotResult(null, null, "memory", "not measured: wasm memory snapshots need a stepped module"),
    };

    /// <summary>Warm-up, CPU kernel, memory, bounded density and snapshot of one tier, with K idle instances.</summary>
    private async Task<TargetResult> IdleAsync(string tier, string? busybox, InstanceTracker tracker, DaemonInfo info, CancellationToken ct)
    {
        var slow = SlowTiers.Contains(tier);
        var k = Math.Max(1, slow ? options.SlowDensityInstances : options.DensityInstances);
        var budget = options.DensityBudgetBytes ?? probe.AvailableMemoryBytes() / 2;
        var marker = tier != "fake";
        var names = new List<string>();
        var pss = new List<long>();
        var errors = new List<string>();
        CpuResult? cpu = null;
        SnapshotResult? snapshot = null;
        int? firstPid = null;
        try
        {
            for (var i = 0; i < k; i++)
            {
                if (pss.Count > 0 && pss.Sum() + (pss.Sum() / pss.Count) > budget)
                {
                    break; // the next instance would not fit the budget: stop starting more
                }
                Report("idle", $"{tier}: idle instance {i + 1}/{k}" + (i == 0 ? " (warm-up, CPU kernel)" : ""));
                var name = tracker.NewName(tier);
                var spec = IdleSpec(tier, busybox, kernel: i == 0) with { Name = name, Tier = tier, Labels = InstanceTracker.Labels(tracker.RunId) };
                await client.CreateAsync(spec, start: true, ct).ConfigureAwait(false);
                names.Add(name);
                var line = marker ? await WaitForMarkerAsync(name, slow ? TimeSpan.FromMinutes(5) : TimeSpan.FromSeconds(60), ct).ConfigureAwait(false) : null;
                if (i == 0 && line is not null)
                {
                    cpu = ParseKernel(line);
                }
                var instance = await client.GetAsync(name, ct).ConfigureAwait(false);
                if (i == 0)
                {
                    firstPid = instance.Pid;
                }
                if (instance.Pid is { } pid && probe.InstancePss(pid) is { } bytes)
                {
                    pss.Add(bytes);
                }
            }
            if (options.Snapshots && tier is TierNames.Container or TierNames.Vm)
            {
                Report("idle", $"{tier}: snapshot and restore");
                snapshot = await SnapshotAsync(tier, names[0], ct).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is StrataApiException or InvalidOperationException or TimeoutException)
        {
            errors.Add(e.Message);
        }
        finally
        {
            foreach (var name in names)
            {
                await DeleteQuietlyAsync(name, CancellationToken.None).ConfigureAwait(false);
            }
            _done++;
        }
        long? per = pss.Count > 0 ? pss.Sum() / pss.Count : null;
        var what = tier == TierNames.Process ? "supervisor + workload" : slow ? "supervisor + QEMU (guest RAM included)" : "supervisor + runtime + workload";
        return new TargetResult
        {
            Name = tier,
            Kind = "tier",
            Label = $"strata run --rm --tier {tier}",
            Memory = new MemoryResult(per, what, per is null ? (firstPid is null ? "the daemon reports no PID for this tier's instances" : "the instance's processes could not be read (run as the daemon's user)") : null),
            Density = new DensityResult(names.Count, budget, per, per is { } p ? BenchStatistics.Fits(budget, p) : null,
                per is null ? "no memory figure to extrapolate from" : $"extrapolated from {names.Count} idle instance(s)"),
            Cpu = cpu ?? new CpuResult(null, null, KernelName, marker ? "the kernel's output was not seen" : "this tier cannot run a shell"),
            Size = await SizeAsync(tier, busybox, info, ct).ConfigureAwait(false),
            Snapshot = snapshot ?? (tier is TierNames.Process or TierNames.Sandbox
                ? new SnapshotResult(null, null, null, "not supported by this tier")
                : new SnapshotResult(null, null, null, options.Snapshots ? "not measured" : "skipped (--no-snapshots)")),
            Errors = errors,
        };
    }

    private string KernelName => $"busybox sh loop, {options.CpuIterations:N0} iterations";

    private CpuResult ParseKernel(string line)
    {
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length >= 3
            && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var a)
            && double.TryParse(parts[2], NumberStyles.Float, CultureInfo.InvariantCulture, out var b))
        {
            return new CpuResult(Math.Round((b - a) * 1000, 1), null, KernelName, "timed inside the workload (/proc/uptime, 10 ms resolution)");
        }
        return new CpuResult(null, null, KernelName, $"unexpected kernel output: {line}");
    }

    private async Task<SnapshotResult> SnapshotAsync(string tier, string name, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        SnapshotInfo snap;
        try
        {
            snap = await client.CreateSnapshotAsync(name, "bench", ct).ConfigureAwait(false);
        }
        catch (StrataApiException e)
        {
            return new SnapshotResult(null, null, null, "create failed: " + e.Message);
        }
        var create = Math.Round(sw.Elapsed.TotalMilliseconds, 1);
        try
        {
            if (tier != TierNames.Vm)
            {
                // Only a VM is put back in place while running; others restore into a stopped instance.
                await client.StopAsync(name, 1, ct).ConfigureAwait(false);
            }
            sw.Restart();
            await client.RestoreSnapshotAsync(name, snap.Name, ct).ConfigureAwait(false);
            return new SnapshotResult(create, Math.Round(sw.Elapsed.TotalMilliseconds, 1), snap.Kind, tier == TierNames.Vm ? "restored in place, running" : "restore includes starting it again");
        }
        catch (StrataApiException e)
        {
            return new SnapshotResult(create, null, snap.Kind, "restore failed: " + e.Message);
        }
    }

    private async Task<SizeResult> SizeAsync(string tier, string? busybox, DaemonInfo info, CancellationToken ct)
    {
        switch (tier)
        {
            case TierNames.Process:
                return busybox is null ? new SizeResult(null, "no image", "the host's own programs") : new SizeResult(new FileInfo(busybox).Length, "no image: the host's busybox binary");
            case TierNames.Container:
                var image = await client.InspectImageAsync(options.Image, ct).ConfigureAwait(false);
                return new SizeResult(image.Image.Size, $"{options.Image} image (stored blobs)");
            case TierNames.Sandbox:
            case TierNames.Vm:
                var largest = LargestFile(Path.Combine(info.Root, "cache", tier), [".ext4", ".qcow2", ".img", ".raw"]);
                return largest is null
                    ? new SizeResult(null, "root disk", "the tier's cached disk is not readable from here")
                    : new SizeResult(largest.Value, $"ext4 root disk built from {options.Image}");
            default:
                return new SizeResult(null, "n/a");
        }
    }

    private static long? LargestFile(string directory, string[] extensions)
    {
        try
        {
            return new DirectoryInfo(directory).EnumerateFiles("*", new EnumerationOptions { RecurseSubdirectories = true })
                .Where(f => extensions.Contains(f.Extension)).Select(f => (long?)f.Length).Max();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private async Task<string> WaitForMarkerAsync(string name, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            await foreach (var frame in client.LogsAsync(name, follow: true, ct: cts.Token).ConfigureAwait(false))
            {
                if (frame.Log is { } log && log.Text.StartsWith("strata-bench-", StringComparison.Ordinal))
                {
                    return log.Text.Trim();
                }
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"{name} did not print its ready line within {timeout.TotalSeconds:0} s");
        }
        var state = await client.GetAsync(name, ct).ConfigureAwait(false);
        throw new InvalidOperationException($"{name} ended before it was ready: {state.State} {state.ExitCode} {state.Reason}".TrimEnd());
    }

    private sealed record Baseline(string After, IBenchTarget Target);

    private async Task<List<Baseline>> PrepareBaselinesAsync(StrataClient client, InstanceTracker tracker, BaselineKit kit, string? busybox, List<string> tiers, DaemonInfo info, Dictionary<string, TargetResult> results, CancellationToken ct)
    {
        var list = new List<Baseline>();
        if (!options.Baselines)
        {
            return list;
        }
        Report("prepare", "baselines: rootfs, runc bundle, podman image");
        if (tiers.Contains(TierNames.Process))
        {
            list.Add(new Baseline(TierNames.Process, busybox is null
                ? new CommandTarget("direct", "/bin/echo (directly, no Strata)", "/bin/echo", () => ["bench"])
                : new CommandTarget("direct", "busybox echo (directly, no Strata)", busybox, () => ["echo", "bench"])));
        }
        if (tiers.Contains(TierNames.Container))
        {
            var runc = probe.Which("runc");
            var podman = probe.Which("podman");
            try
            {
                if (busybox is null)
                {
                    throw new InvalidOperationException("busybox is not installed (Debian: busybox-static)");
                }
                kit.BuildRootfs(busybox);
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException)
            {
                results["runc"] = new TargetResult { Name = "runc", Kind = "baseline", Label = RuncLabel, Skipped = e.Message };
                results["podman"] = new TargetResult { Name = "podman", Kind = "baseline", Label = "podman run --rm --runtime runc", Skipped = e.Message };
                return list;
            }
            if (runc is null)
            {
                results["runc"] = new TargetResult { Name = "runc", Kind = "baseline", Label = RuncLabel, Skipped = "runc is not installed" };
            }
            else
            {
                var state = Path.Combine(kit.Directory, "runc-state");
                var n = 0;
                string[] RuncRun(string bundle) => ["--root", state, "run", "--bundle", bundle, $"strata-bench-{kit.RunId}-{Interlocked.Increment(ref n)}"];
                try
                {
                    // Same flags (docs/SPECIFICATION.md): the raw runtime runs the very config.json Strata gives it for this workload.
                    kit.PrepareBundleFrom(await StrataConfigAsync(client, tracker, kit, ct).ConfigureAwait(false));
                    list.Add(new Baseline(TierNames.Container, new CommandTarget("runc", RuncLabel, runc, () => RuncRun(kit.Bundle!), probe.Version("runc"))));
                    results["runc"] = new TargetResult { Name = "runc", Kind = "baseline", Label = RuncLabel, Size = new SizeResult(BaselineKit.DirectorySize(kit.Rootfs!), "busybox rootfs directory") };
                }
                catch (Exception e) when (e is InvalidOperationException or StrataException or StrataApiException or IOException)
                {
                    results["runc"] = new TargetResult { Name = "runc", Kind = "baseline", Label = RuncLabel, Skipped = e.Message };
                }
                try
                {
                    kit.PrepareDefaultBundle(runc);
                    list.Add(new Baseline(TierNames.Container, new CommandTarget("runc-defaults", RuncDefaultsLabel, runc, () => RuncRun(kit.DefaultBundle!), probe.Version("runc"))));
                }
                catch (InvalidOperationException e)
                {
                    results["runc-defaults"] = new TargetResult { Name = "runc-defaults", Kind = "baseline", Label = RuncDefaultsLabel, Skipped = e.Message };
                }
            }
            if (podman is null)
            {
                results["podman"] = new TargetResult { Name = "podman", Kind = "baseline", Label = "podman run --rm --runtime runc", Skipped = "podman is not installed" };
            }
            else
            {
                try
                {
                    kit.ImportPodmanImage(podman);
                    list.Add(new Baseline(TierNames.Container, new CommandTarget("podman", "podman run --rm --runtime runc", podman,
                        () => ["run", "--rm", "--runtime", "runc", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                            "--cgroup-manager", "cgroupfs", kit.PodmanImage!, "echo", "bench"], probe.Version("podman"))));
                    results["podman"] = new TargetResult { Name = "podman", Kind = "baseline", Label = "podman run --rm --runtime runc", Size = new SizeResult(kit.PodmanImageSize(), "podman image (uncompressed)") };
                }
                catch (InvalidOperationException e)
                {
                    results["podman"] = new TargetResult { Name = "podman", Kind = "baseline", Label = "podman run --rm --runtime runc", Skipped = e.Message };
                }
            }
        }
        if (tiers.Contains(TierNames.Sandbox))
        {
            var accel = results.TryGetValue(TierNames.Sandbox, out _) && info.Tiers.First(t => t.Tier == TierNames.Sandbox).Reason.Contains(", kvm (", StringComparison.OrdinalIgnoreCase) ? "kvm" : "tcg";
            var (target, why) = RawQemuTarget.Locate(info.Root, accel, kit.Directory);
            if (target is null)
            {
                results["qemu"] = new TargetResult { Name = "qemu", Kind = "baseline", Label = "qemu-system-x86_64 -M microvm", Skipped = why };
            }
            else
            {
                list.Add(new Baseline(TierNames.Sandbox, target));
            }
            // A start from a template against raw QEMU restoring that very template (docs/sandbox.md#templates).
            var (restore, noRestore) = RawQemuRestoreTarget.Locate(info.Root, accel, kit.Directory);
            if (restore is null)
            {
                results["qemu-restore"] = new TargetResult { Name = "qemu-restore", Kind = "baseline", Label = "qemu-system-x86_64 -M microvm -incoming", Skipped = noRestore };
            }
            else
            {
                list.Add(new Baseline(TierNames.Sandbox, restore));
            }
        }
        return list;
    }

    private const string RuncLabel = "runc run (prepared bundle: Strata's config.json, same busybox)";
    private const string RuncDefaultsLabel = "runc run (runc spec defaults: no seccomp, no limits)";

    /// <summary>Creates (without starting) the trivial container workload and returns the config.json Strata wrote for it.</summary>
    private async Task<string> StrataConfigAsync(StrataClient client, InstanceTracker tracker, BaselineKit kit, CancellationToken ct)
    {
        var name = tracker.NewName(TierNames.Container);
        var spec = TrivialSpec(TierNames.Container, null, kit) with { Name = name, Tier = TierNames.Container, Labels = InstanceTracker.Labels(tracker.RunId) };
        await client.CreateAsync(spec, start: false, ct).ConfigureAwait(false);
        try
        {
            return await client.RuntimeConfigAsync(name, ct).ConfigureAwait(false);
        }
        finally
        {
            await client.DeleteAsync(name, force: true, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private async Task<Dictionary<string, (List<double> First, List<double> Exit, List<string> Errors)>> RoundsAsync(List<IBenchTarget> targets, CancellationToken ct)
    {
        var samples = targets.ToDictionary(t => t.Name, _ => (First: new List<double>(), Exit: new List<double>(), Errors: new List<string>()));
        var failures = targets.ToDictionary(t => t.Name, _ => 0);
        // Warm-up of the fast targets (JIT in the daemon, page cache); slow ones were warmed by their idle phase.
        foreach (var t in targets.Where(t => !t.Slow))
        {
            Report("start", $"warm-up: {t.Label}");
            await OnceAsync(t, record: false).ConfigureAwait(false);
        }
        var rounds = Math.Max(options.Runs, options.SlowRuns);
        for (var r = 0; r < rounds; r++)
        {
            foreach (var t in targets)
            {
                if (r >= (t.Slow ? options.SlowRuns : options.Runs) || failures[t.Name] >= 2)
                {
                    continue;
                }
                Report("start", $"round {r + 1}: {t.Label}");
                await OnceAsync(t, record: true).ConfigureAwait(false);
            }
        }
        return samples;

        async Task OnceAsync(IBenchTarget t, bool record)
        {
            try
            {
                var s = await t.RunOnceAsync(ct).ConfigureAwait(false);
                failures[t.Name] = 0;
                if (record)
                {
                    if (s.FirstOutputMs is { } f)
                    {
                        samples[t.Name].First.Add(f);
                    }
                    samples[t.Name].Exit.Add(s.ExitMs);
                }
            }
            catch (Exception e) when (e is InvalidOperationException or StrataApiException or IOException or StrataException or TimeoutException)
            {
                failures[t.Name]++;
                if (samples[t.Name].Errors.Count < 3)
                {
                    samples[t.Name].Errors.Add(e.Message);
                }
            }
            finally
            {
                _done++;
            }
        }
    }

    /// <summary>
    /// Removes the instances of earlier bench runs that were killed before their cleanup (SIGKILL runs no
    /// <c>finally</c>): every instance labelled <c>strata-bench</c>. Returns their names. <c>strata bench</c> does
    /// this first; <c>strata bench --clean</c> does only this.
    /// </summary>
    public static async Task<IReadOnlyList<string>> RemoveLeftoversAsync(StrataClient client, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(client);
        var list = await client.ListAsync(ct).ConfigureAwait(false);
        var removed = new List<string>();
        foreach (var i in list.Items.Where(i => i.Spec.Labels is { } l && l.ContainsKey(InstanceTracker.Label)))
        {
            await DeleteQuietlyAsync(client, i.Name, ct).ConfigureAwait(false);
            removed.Add(i.Name);
        }
        return removed;
    }

    /// <summary>What a run says after removing leftovers of an interrupted one.</summary>
    public static string LeftoversRemoved(IReadOnlyList<string> names) =>
        $"removed {names.Count} leftover instance{(names.Count == 1 ? "" : "s")} of an interrupted bench run: {string.Join(", ", names)}";

    private async Task CleanupAsync(InstanceTracker tracker)
    {
        // Never with the caller's token: cleanup must also happen after Ctrl-C.
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        Report("cleanup", "removing every bench instance");
        try
        {
            foreach (var name in tracker.Names)
            {
                await DeleteQuietlyAsync(name, cts.Token).ConfigureAwait(false);
            }
            // Auto-removed runs finish their removal in the daemon: wait until none of ours is listed.
            while (!cts.IsCancellationRequested)
            {
                var left = (await client.ListAsync(cts.Token).ConfigureAwait(false)).Items
                    .Where(i => i.Spec.Labels is { } l && l.TryGetValue(InstanceTracker.Label, out var id) && id == tracker.RunId).ToList();
                if (left.Count == 0)
                {
                    return;
                }
                foreach (var i in left)
                {
                    await DeleteQuietlyAsync(i.Name, cts.Token).ConfigureAwait(false);
                }
                await Task.Delay(100, cts.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or StrataApiException or DaemonUnreachableException)
        {
            _notes.Add($"cleanup incomplete ({e.Message}); remove leftovers with: strata ps -a, strata rm -f NAME (they are named {InstanceTracker.Prefix}{tracker.RunId}-…)");
        }
    }

    private Task DeleteQuietlyAsync(string name, CancellationToken ct) => DeleteQuietlyAsync(client, name, ct);

    private static async Task DeleteQuietlyAsync(StrataClient client, string name, CancellationToken ct)
    {
        try
        {
            await client.DeleteAsync(name, force: true, ct).ConfigureAwait(false);
        }
        catch (StrataApiException e) when (e.Kind is ErrorKind.NotFound or ErrorKind.Conflict)
        {
            // Already gone (auto-removed), or being removed right now.
        }
    }

    private void Report(string phase, string message) => progress?.Report(new BenchProgress(phase, message, _done, Math.Max(_total, _done)));
}
