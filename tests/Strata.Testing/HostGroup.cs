namespace Strata.Testing;

/// <summary>
/// A local group a test needs (such as <c>strata</c>): the existing one, or one made with groupadd and removed with
/// groupdel at dispose. Needs root.
/// </summary>
public sealed class HostGroup : IDisposable
{
    private readonly bool _made;

    private HostGroup(string name, int gid, bool made)
    {
        Name = name;
        Gid = gid;
        _made = made;
    }

    public string Name { get; }
    public int Gid { get; }

    public static HostGroup Ensure(string name)
    {
        TestEnvironment.Require(TestEnvironment.IsRoot, $"making the group '{name}' needs root");
        if (Find(name) is { } gid)
        {
            return new HostGroup(name, gid, made: false);
        }
        Run("groupadd", "--system", name);
        return new HostGroup(name, Find(name) ?? throw new InvalidOperationException($"groupadd made no group '{name}'"), made: true);
    }

    public void Dispose()
    {
        if (_made)
        {
            Run("groupdel", Name);
        }
    }

    private static int? Find(string name)
    {
        foreach (var line in File.ReadLines("/etc/group"))
        {
            var parts = line.Split(':');
            if (parts.Length > 2 && parts[0] == name)
            {
                return int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        return null;
    }

    private static void Run(string file, params string[] args)
    {
        var (code, _, err) = TestEnvironment.Exec(file, args);
        if (code != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed: {err}");
        }
    }
}
