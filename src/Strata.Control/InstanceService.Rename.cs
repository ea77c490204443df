using Strata.Contracts;
using Strata.Store;

namespace Strata.Control;

public sealed partial class InstanceService
{
    /// <summary>
    /// Gives an instance another name, in any state but deleted: the new name is reserved first (a taken one is a
    /// conflict and changes nothing), the record is stored under it, then the old name is released. What the
    /// workload already has keeps the old name (a running container's hostname, as with Docker); the instance's
    /// network names are the caller's to update (the driver does not know the name).
    /// </summary>
    public async Task<InstanceRecord> RenameAsync(string project, string name, string newName, CancellationToken cancellationToken)
    {
        SpecValidator.ValidateName(newName, "name");
        var entry = Find(project, name);
        await entry.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var record = entry.Record;
            if (record.State == InstanceState.Deleted)
            {
                throw StrataException.NotFound($"no instance named '{name}' in project '{project}'");
            }
            if (record.Name == newName)
            {
                return record;
            }
            lock (_admission)
            {
                if (!_names.TryAdd(Key(project, newName), record.Id))
                {
                    throw StrataException.Conflict($"an instance named '{newName}' exists already in project '{project}'; choose another name or remove it first");
                }
            }
            try
            {
                await CommitAsync(entry, record with { Name = newName, Spec = record.Spec with { Name = newName } }, "renamed").ConfigureAwait(false);
            }
            catch
            {
                _names.TryRemove(Key(project, newName), out _);
                throw;
            }
            _names.TryRemove(Key(project, name), out _);
            return entry.Record;
        }
        finally
        {
            entry.Lock.Release();
        }
    }
}
