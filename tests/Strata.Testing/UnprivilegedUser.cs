namespace Strata.Testing;

/// <summary>
/// A local user without privileges, created for one test (useradd) and removed at dispose (userdel), for checks
/// "as another user on the host". Commands run with setpriv (uid, gid, and no supplementary group but
/// <see cref="Group"/> when set). Needs root.
/// </summary>
public sealed class UnprivilegedUser : IDisposable
{
    private UnprivilegedUser(string name, int uid, int gid)
    {
        Name = name;
        Uid = uid;
        Gid = gid;
    }

    public string Name { get; }
    public int Uid { get; }
    public int Gid { get; }

    /// <summary>A supplementary group the user's commands run with (as a member of it); none when null.</summary>
    public int? Group { get; set; }

    /// <summary>Creates the user, or skips (fails under CI=true) when the test cannot: not root, no useradd/setpriv.</summary>
    public static UnprivilegedUser Create()
    {
        TestEnvironment.Require(TestEnvironment.IsRoot, "creating an unprivileged user needs root");
        TestEnvironment.Require(TestEnvironment.Which("useradd") is not null && TestEnvironment.Which("setpriv") is not null,
            "useradd and setpriv (passwd, util-linux) are needed to act as an unprivileged user");
        var name = "strt" + Guid.NewGuid().ToString("N")[..10];
        var (code, _, err) = TestEnvironment.Exec("useradd", ["--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name]);
        if (code != 0)
        {
            throw new InvalidOperationException($"useradd {name} failed: {err}");
        }
        var uid = int.Parse(TestEnvironment.Exec("id", ["-u", name]).Stdout.Trim(), System.Globalization.CultureInfo.InvariantCulture);
        var gid = int.Parse(TestEnvironment.Exec("id", ["-g", name]).Stdout.Trim(), System.Globalization.CultureInfo.InvariantCulture);
        return new UnprivilegedUser(name, uid, gid);
    }

    /// <summary>
    /// Runs <paramref name="file"/> as this user (no supplementary groups, a clean environment). The user's own shell
    /// executes it: setpriv's own exec still holds root's capabilities while it looks the path up (the kernel drops
    /// them only with the new program), so it would reach files the user cannot.
    /// </summary>
    public (int ExitCode, string Stdout, string Stderr) Run(string file, IEnumerable<string> args, string? stdin = null) =>
        TestEnvironment.Exec("setpriv", [$"--reuid={Uid}", $"--regid={Gid}", Group is { } g ? $"--groups={g}" : "--clear-groups", "--reset-env", "--", "/bin/sh", "-c", "exec \"$0\" \"$@\"", file, .. args], stdin);

    /// <summary>
    /// The paths of <paramref name="paths"/> this user can stat, list, read, write or execute, each with what it
    /// could do (e.g. <c>rx /root/dir</c>). Checked in one shell run, so thousands of paths cost one process.
    /// </summary>
    public IReadOnlyList<string> Reachable(IEnumerable<string> paths)
    {
        const string script = """
            while IFS= read -r p; do
              a=""
              if [ -e "$p" ] || [ -L "$p" ]; then a="${a}s"; fi
              if [ -r "$p" ]; then a="${a}r"; fi
              if [ -w "$p" ]; then a="${a}w"; fi
              if [ -x "$p" ]; then a="${a}x"; fi
              if [ -n "$a" ]; then echo "$a $p"; fi
            done
            """;
        var (_, stdout, _) = Run("/bin/sh", ["-c", script], string.Join('\n', paths) + "\n");
        return stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    public void Dispose() => TestEnvironment.Exec("userdel", ["--force", Name]);

    /// <summary>Every path below <paramref name="root"/>, without following symlinks; at most <paramref name="limit"/>.</summary>
    public static IReadOnlyList<string> Census(string root, int limit = 50_000)
    {
        var all = new List<string>();
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true };
        foreach (var path in Directory.EnumerateFileSystemEntries(root, "*", options))
        {
            all.Add(path);
            if (all.Count >= limit)
            {
                break;
            }
        }
        return all;
    }
}
