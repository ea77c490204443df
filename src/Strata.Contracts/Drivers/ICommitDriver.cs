namespace Strata.Contracts.Drivers;

/// <summary>
/// A tier whose instance writes into a layer of its own over its image, which <c>strata commit</c> turns into a new
/// image (the container tier's overlay upper directory).
/// </summary>
public interface ICommitDriver
{
    /// <summary>
    /// The directory holding what the instance changed over its image, in overlayfs's form (deletions as 0/0
    /// character devices, replaced directories marked opaque). Read only while the workload is not running.
    /// </summary>
    string ChangesDirectory(DriverHandle handle);
}
