using Strata.Contracts;
using Strata.Control;
using Strata.Node.Drivers.Sandbox;
using Strata.Node.Drivers.Sandbox.Templates;
using Strata.Node.Drivers.Vm;

namespace Strata.Daemon.Api;

/// <summary>
/// The booted templates of images (docs/sandbox.md#templates) as the image API shows and removes them: listed with
/// their image in <c>GET /v1/images</c>, removed with the image's last name and by <c>POST /v1/images/prune</c>.
/// Templates hold no tenant data (they are saved before any workload is given), so they belong to the image.
/// </summary>
internal static class ImageTemplates
{
    private static SandboxDriver? Sandbox(DriverRegistry drivers) => drivers.Find(Tier.Sandbox) as SandboxDriver;

    private static VmDriver? Vm(DriverRegistry drivers) => drivers.Find(Tier.Vm) as VmDriver;

    /// <summary>Every template of both guest tiers, with its tier's name.</summary>
    private static IEnumerable<(string Tier, SandboxTemplateInfo Info)> All(DriverRegistry drivers) =>
        (Sandbox(drivers)?.ListTemplates() ?? []).Select(t => ("sandbox", t)).Concat((Vm(drivers)?.ListTemplates() ?? []).Select(t => ("vm", t)));

    /// <summary>The summaries with each image's templates attached (by image ID).</summary>
    public static IEnumerable<ImageSummary> Attach(IEnumerable<ImageSummary> images, DriverRegistry drivers)
    {
        var byImage = All(drivers).ToLookup(t => t.Info.Image, StringComparer.Ordinal);
        foreach (var i in images)
        {
            var templates = byImage[i.Id].Select(x => new ImageTemplate
            {
                Tier = x.Tier,
                Key = x.Info.Key,
                MemoryMiB = x.Info.MemoryMiB,
                Cpus = x.Info.Cpus,
                Network = x.Info.Network,
                SizeBytes = x.Info.SizeBytes,
                CreatedAt = x.Info.CreatedAt,
            }).ToList();
            yield return templates.Count > 0 ? i with { Templates = templates } : i;
        }
    }

    /// <summary>
    /// Removes the templates of image <paramref name="imageId"/> (its last name is gone) and the cached empty overlays
    /// on its base disk; bytes freed.
    /// </summary>
    public static long RemoveFor(string imageId, DriverRegistry drivers) =>
        (Sandbox(drivers)?.RemoveTemplates(t => t.Image == imageId) ?? 0) + (Vm(drivers)?.RemoveTemplates(t => t.Image == imageId) ?? 0)
        + Overlays(drivers, imageId);

    /// <summary>
    /// Removes every template and every cached empty overlay (they are made again at the next start of each image):
    /// the number of templates and the bytes freed.
    /// </summary>
    public static (int Count, long Bytes) RemoveAll(DriverRegistry drivers)
    {
        var count = All(drivers).Count();
        return (count, (Sandbox(drivers)?.RemoveTemplates(_ => true) ?? 0) + (Vm(drivers)?.RemoveTemplates(_ => true) ?? 0) + Overlays(drivers, null));
    }

    /// <summary>Both guest tiers' cached empty overlays (they may share one cache: the second finds nothing left).</summary>
    private static long Overlays(DriverRegistry drivers, string? imageId) =>
        (Sandbox(drivers)?.RemoveEmptyOverlays(imageId) ?? 0) + (Vm(drivers)?.RemoveEmptyOverlays(imageId) ?? 0);
}
