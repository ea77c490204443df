using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Control;

public sealed partial class InstanceService
{
    /// <summary>
    /// Hands a stopped instance's changes over its image (<see cref="ICommitDriver.ChangesDirectory"/>) to
    /// <paramref name="write"/>, which makes the new image, with the instance locked: it cannot be started, removed
    /// or written to meanwhile. A tier without commit, or a running instance, is a 409 that says what to do.
    /// </summary>
    /// <param name="write">Gets the instance's image reference and its changes directory.</param>
    public async Task<T> CommitAsync<T>(string project, string name, Func<string, string, Task<T>> write, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(write);
        var entry = Find(project, name);
        await entry.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var record = entry.Record;
            if (_drivers.Find(record.Tier) is not ICommitDriver driver || record.Handle is not { } handle || record.Spec.Image is not { } image)
            {
                var committing = TierNames.UserTiers.Where(t => _drivers.Find(t) is ICommitDriver).Select(t => t.ToName());
                throw StrataException.Conflict($"cannot commit instance '{name}': it is a {record.Tier.ToName()} instance; commit turns a {string.Join(" or ", committing)} instance into an image");
            }
            if (record.State.IsActive())
            {
                // Consistency without freezing: nothing writes to a stopped instance's layer.
                throw StrataException.Conflict($"cannot commit instance '{name}': it is {record.State.ToName()}; stop it first (strata stop {name})");
            }
            return await write(image, driver.ChangesDirectory(handle)).ConfigureAwait(false);
        }
        finally
        {
            entry.Lock.Release();
        }
    }
}
