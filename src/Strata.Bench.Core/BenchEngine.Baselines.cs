using Strata.Client;
using Strata.Contracts;

namespace Strata.Bench.Core;

/// <summary>The baselines each tier is compared with: raw runc (two bundles), podman, wasmtime, raw QEMU.</summary>
public sealed partial class BenchEngine
{
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
}
