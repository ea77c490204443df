namespace Strata.Daemon;

/// <summary>Looks up local groups in /etc/group (the daemon needs one: <c>strata</c>).</summary>
internal static class UnixGroups
{
    public static int? Find(string name)
    {
        try
        {
            foreach (var line in File.ReadLines("/etc/group"))
            {
                var parts = line.Split(':');
                if (parts.Length > 2 && parts[0] == name && int.TryParse(parts[2], out var gid))
                {
                    return gid;
                }
            }
        }
        catch (IOException)
        {
        }
        return null;
    }
}
