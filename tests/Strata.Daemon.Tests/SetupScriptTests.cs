using Strata.Testing;

namespace Strata.Daemon.Tests;

/// <summary>
/// README's commands (`bash scripts/setup.sh`, `bash scripts/test.sh`) work as root, as a user with sudo, and say what
/// to do on a machine without sudo (#25: `sudo bash scripts/setup.sh` failed on a root-only Debian machine with
/// "sudo: command not found"). The decision is scripts/as-root.sh's, which both scripts source first; it runs here as
/// root and as a real unprivileged user, with a fake <c>sudo</c> (a script that only records how it was called) where
/// the user is to have one.
/// </summary>
public sealed class SetupScriptTests : IDisposable
{
    private const string Target = "/opt/elsewhere/setup.sh";
    private readonly TempDirectory _dir = new("strata-asroot");

    public SetupScriptTests()
    {
        // The unprivileged user reads the helper and runs the tools from here, not from the build's folder.
        File.SetUnixFileMode(_dir.Path, (UnixFileMode)0b111_101_101);
        File.Copy(Path.Combine(TestEnvironment.RepoRoot, "scripts", "as-root.sh"), _dir.Combine("as-root.sh"));
        File.SetUnixFileMode(_dir.Combine("as-root.sh"), (UnixFileMode)0b110_100_100);
        // PATH directories: the tools as-root.sh uses, once without sudo and once with the fake one.
        foreach (var bin in new[] { "no-sudo", "fake-sudo" })
        {
            Directory.CreateDirectory(_dir.Combine(bin));
            File.SetUnixFileMode(_dir.Combine(bin), (UnixFileMode)0b111_101_101);
            foreach (var tool in new[] { "id", "basename" })
            {
                File.CreateSymbolicLink(_dir.Combine(bin, tool), TestEnvironment.Which(tool)!);
            }
        }
        File.WriteAllText(_dir.Combine("fake-sudo", "sudo"), "#!/bin/sh\necho \"fake sudo: $*\"\n");
        File.SetUnixFileMode(_dir.Combine("fake-sudo", "sudo"), (UnixFileMode)0b111_101_101);
    }

    /// <summary>A shell that sources as-root.sh, calls as_root as setup.sh does, and says whether it went on and as whom.</summary>
    private string[] Shell(string path, bool optional) =>
        ["-c", $"PATH={path}; . {_dir.Combine("as-root.sh")}; as_root {(optional ? "--optional " : "")}{Target} one two; echo \"went on as $(id -u)\""];

    [SkippableFact]
    public void AsRoot_TheScriptGoesOnAsItIs()
    {
        TestEnvironment.Require(TestEnvironment.IsRoot, "needs root");
        foreach (var optional in new[] { false, true })
        {
            // Even with a sudo on PATH: root does not need it (a root-only machine has none).
            var (code, stdout, stderr) = TestEnvironment.Exec("/bin/bash", Shell(_dir.Combine("fake-sudo"), optional));
            Assert.True(code == 0, stderr);
            Assert.Equal("went on as 0\n", stdout);
        }
    }

    [SkippableFact]
    public void UserWithSudo_RunsTheScriptAgainThroughSudo_KeepingTheEnvironmentAndArguments()
    {
        using var user = UnprivilegedUser.Create();
        var (code, stdout, stderr) = user.Run("/bin/bash", Shell(_dir.Combine("fake-sudo"), optional: false));
        Assert.True(code == 0, stderr);
        // exec: nothing after as_root runs as the user.
        Assert.Equal($"fake sudo: -E bash {Target} one two\n", stdout);
    }

    [SkippableFact]
    public void UserWithoutSudo_IsToldHowToBecomeRoot_OrGoesOnWhereRootIsOptional()
    {
        using var user = UnprivilegedUser.Create();
        var (code, stdout, stderr) = user.Run("/bin/bash", Shell(_dir.Combine("no-sudo"), optional: false));
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Contains("run as root (for example: su -c 'bash /opt/elsewhere/setup.sh'); this machine has no sudo", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("command not found", stderr, StringComparison.Ordinal);

        // test.sh's case: the tests that need root skip, and it says so.
        (code, stdout, stderr) = user.Run("/bin/bash", Shell(_dir.Combine("no-sudo"), optional: true));
        Assert.Equal(0, code);
        Assert.Equal($"went on as {user.Uid}\n", stdout);
        Assert.Contains("not root and no sudo", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Readme_CommandsCallBash_AndBothScriptsDecideThroughAsRoot()
    {
        var readme = File.ReadAllText(Path.Combine(TestEnvironment.RepoRoot, "README.md"));
        Assert.Contains("\nbash scripts/setup.sh ", readme, StringComparison.Ordinal);
        Assert.Contains("\nbash scripts/test.sh ", readme, StringComparison.Ordinal);
        Assert.DoesNotContain("sudo bash scripts/", readme, StringComparison.Ordinal);
        foreach (var (script, call) in new[] { ("setup.sh", "as_root \"$root/scripts/setup.sh\" \"$@\""), ("test.sh", "as_root --optional \"$root/scripts/test.sh\" \"$@\"") })
        {
            var text = File.ReadAllText(Path.Combine(TestEnvironment.RepoRoot, "scripts", script));
            Assert.Contains("source \"$root/scripts/as-root.sh\"", text, StringComparison.Ordinal);
            Assert.Contains(call, text, StringComparison.Ordinal);
        }
    }

    public void Dispose() => _dir.Dispose();
}
