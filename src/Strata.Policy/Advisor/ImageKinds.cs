namespace Strata.Policy.Advisor;

/// <summary>
/// Guesses what an image is from its reference alone. The image store knows better (an OCI artifact
/// may be a Wasm module); callers that know should set <see cref="AdvisorContext.ImageKind"/>.
/// </summary>
public static class ImageKinds
{
    private static readonly string[] DiskExtensions = [".qcow2", ".img", ".raw", ".iso", ".vmdk", ".vhdx", ".vdi"];

    public static ImageKind Guess(string? image)
    {
        if (string.IsNullOrWhiteSpace(image))
        {
            return ImageKind.None;
        }
        var reference = image.Trim();
        if (reference.EndsWith(".wasm", StringComparison.OrdinalIgnoreCase) || reference.EndsWith(".wat", StringComparison.OrdinalIgnoreCase))
        {
            return ImageKind.Wasm;
        }
        foreach (var extension in DiskExtensions)
        {
            if (reference.EndsWith(extension, StringComparison.OrdinalIgnoreCase))
            {
                return ImageKind.Disk;
            }
        }
        return ImageKind.Oci;
    }
}
