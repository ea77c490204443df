namespace Strata.Node.Networking;

public sealed partial class NetworkRegistry
{
    /// <summary>
    /// The member's name changed (the instance was renamed): the other members reach it by the new name from now on
    /// (every hosts file of its network is rewritten); its aliases stay. Nothing happens when it is no member.
    /// </summary>
    public async Task RenameMemberAsync(string instanceId, string newName, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            foreach (var record in _state.Networks)
            {
                var i = record.Members.FindIndex(m => m.InstanceId == instanceId);
                if (i >= 0)
                {
                    record.Members[i] = record.Members[i] with { Name = newName };
                    Save();
                    WriteHostsFiles(record);
                }
            }
        }
        finally
        {
            _lock.Release();
        }
    }
}
