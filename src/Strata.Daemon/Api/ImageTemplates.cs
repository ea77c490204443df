using Strata.Contracts;
using Strata.Control;
using Strata.Node.Drivers.Sandbox;

namespace Strata.Daemon.Api;

/// <summary>
/// The booted templates of images (docs/sandbox.md#templates) as the image API shows and removes them: listed with
/// their image in <c>GET /v1/images</c>, removed with the image's last name and by <c>POST /v1/images/prune</c>.
/// Templates hold no tenant data (they are saved before any workload is given), so they belong to the image.
/// </summary>
internal static class ImageTemplates
{
    private static SandboxDriver? Sandbox(DriverRegistry drivers) => drivers.Find(Tier.Sandbox) as SandboxDriver;

    /// <summary>The summaries with each image's templates attached (by image ID).</summary>
    public static IEnumerable<ImageSummary> Attach(IEnumerable<ImageSummary> images, DriverRegistry drivers)
    {
        var byImage = (Sandbox(drivers)?.ListTemplates() ?? []).ToLookup(t => t.Image, StringComparer.Ordinal);
        foreach (var i in images)
        {
            var templates = byImage[i.Id].Select(t => new ImageTemplate
            {
                Tier = "sandbox",
                Key = t.Key,
                MemoryMiB = t.MemoryMiB,
                Cpus = t.Cpus,
                Network = t.Network,
                SizeBytes = t.SizeBytes,
                CreatedAt = t.CreatedAt,
            }).ToList();
            yield return templates.Count > 0 ? i with { Templates = templates } : i;
        }
    }

    /// <summary>Removes the templates of image <paramref name="imageId"/> (its last name is gone); bytes freed.</summary>
    public static long RemoveFor(string imageId, DriverRegistry drivers) => Sandbox(drivers)?.RemoveTemplates(t => t.Image == imageId) ?? 0;

    /// <summary>Removes every template (they are made again at the next start of each image): count and bytes freed.</summary>
    public static (int Count, long Bytes) RemoveAll(DriverRegistry drivers)
    {
        var sandbox = Sandbox(drivers);
        if (sandbox is null)
        {
            return (0, 0);
        }
        var count = sandbox.ListTemplates().Count;
        return (count, sandbox.RemoveTemplates(_ => true));
    }
}
