using Strata.Contracts;
using Strata.Testing;

namespace Strata.Cluster.Tests;

/// <summary>
/// Published stratad against an etcd member that serves TLS and requires client certificates
/// (<c>--client-cert-auth --trusted-ca-file</c>): with the CA, certificate and key it joins and runs an instance;
/// without them, or with a certificate etcd does not trust, it stops at start with an error naming the flag to fix.
/// </summary>
public sealed class EtcdTlsTests(Xunit.Abstractions.ITestOutputHelper output) : IAsyncLifetime
{
    private TlsEtcd _etcd = null!;
    private ClusterDaemons _daemons = null!;

    public async Task InitializeAsync()
    {
        _ = PublishedDaemon.Binary; // skips (fails under CI) when stratad is not published
        _etcd = await TlsEtcd.StartAsync("clu19b-tls");
        _daemons = new ClusterDaemons(_etcd.ConnectionString, "clu19b-tlsd");
    }

    public async Task DisposeAsync()
    {
        await _daemons.DisposeAsync();
        await _etcd.DisposeAsync();
    }

    [SkippableFact]
    public async Task WithTheClientCertificate_ANodeJoinsAndRuns_WithoutIt_ItStopsNamingTheFlag()
    {
        // No TLS flags: plain HTTP/2 to a TLS member never gets an answer; the error says which flags reach etcd over TLS.
        var plain = await FailToStartAsync("clu19b-t0", []);
        Assert.Contains("--etcd-cacert", plain);
        Assert.Contains("--etcd-cert", plain);

        // The CA but no client certificate: the member ends the handshake; the error asks for --etcd-cert and --etcd-key.
        var noCert = await FailToStartAsync("clu19b-t1", ["--etcd-cacert", _etcd.CaFile]);
        Assert.Contains("--etcd-cert", noCert);
        Assert.Contains("--etcd-key", noCert);

        // A client certificate from a CA etcd does not trust.
        var stranger = await FailToStartAsync("clu19b-t2", ["--etcd-cacert", _etcd.CaFile, "--etcd-cert", _etcd.StrangerCert, "--etcd-key", _etcd.StrangerKey]);
        Assert.Contains("--etcd-cert", stranger);

        // A key file others may read is refused before anything is sent.
        var loose = Path.Combine(_etcd.Dir, "loose.key");
        File.Copy(_etcd.ClientKey, loose);
        File.SetUnixFileMode(loose, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var looseError = await FailToStartAsync("clu19b-t3", ["--etcd-cacert", _etcd.CaFile, "--etcd-cert", _etcd.ClientCert, "--etcd-key", loose]);
        Assert.Contains("--etcd-key", looseError);
        Assert.Contains("chmod 600", looseError);

        // With the CA, the certificate and its key: it joins, leads the scheduler (it is alone) and runs an instance.
        var node = await _daemons.StartAsync("clu19b-tn", extra: ["--etcd-cacert", _etcd.CaFile, "--etcd-cert", _etcd.ClientCert, "--etcd-key", _etcd.ClientKey]);
        var created = await node.Socket.CreateAsync(new InstanceSpec
        {
            Name = "over-tls",
            Tier = "fake",
            Args = ["sleep"],
            Resources = new ResourceSpec { Cpus = 0.01, MemoryBytes = 8L << 20 },
        });
        Assert.Equal("clu19b-tn", created.Details!["node"]);
        Assert.True(await TestEnvironment.EventuallyAsync(() => node.Socket.ListAsync().GetAwaiter().GetResult().Items is [{ Name: "over-tls", State: "running" }],
            TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(100)), "the instance did not run on the node that reaches etcd over TLS; its log:\n" + node.LastOutput());
        // What it wrote went to the TLS member: etcdctl with the client certificate reads the node's assignment.
        var (code, keys, err) = TestEnvironment.Exec("/usr/bin/etcdctl", ["--endpoints", "https://127.0.0.1:" + _etcd.Port, "--cacert", _etcd.CaFile,
            "--cert", _etcd.ClientCert, "--key", _etcd.ClientKey, "get", "--prefix", "--keys-only", ClusterKeys.AssignmentsOf("clu19b-tn")]);
        Assert.True(code == 0, err);
        Assert.Contains("over-tls", keys);
    }

    [SkippableFact]
    public async Task WithEtcdAuthenticationOn_TheRightUserJoins_AWrongPasswordOrAUserWithoutARoleStopsNamingTheFix()
    {
        // etcd's own users: root (needed to turn authentication on), "ops" with read and write on /strata/, "idle" with no role.
        Etcdctl("user", "add", "root", "--new-user-password", "root-pw", "--interactive=false");
        Etcdctl("user", "grant-role", "root", "root");
        Etcdctl("role", "add", "strata-rw");
        Etcdctl("role", "grant-permission", "strata-rw", "--prefix=true", "readwrite", "/strata/");
        Etcdctl("user", "add", "ops", "--new-user-password", "ops-pw", "--interactive=false");
        Etcdctl("user", "grant-role", "ops", "strata-rw");
        Etcdctl("user", "add", "idle", "--new-user-password", "idle-pw", "--interactive=false");
        Etcdctl("auth", "enable");

        var tls = new[] { "--etcd-cacert", _etcd.CaFile, "--etcd-cert", _etcd.ClientCert, "--etcd-key", _etcd.ClientKey };
        var wrong = PasswordFile("wrong", "not-the-password");
        var wrongError = await FailToStartAsync("clu19b-a1", [.. tls, "--etcd-user", "ops", "--etcd-password-file", wrong]);
        Assert.Contains("etcd refused user 'ops'", wrongError);
        Assert.Contains(wrong, wrongError);

        var idleError = await FailToStartAsync("clu19b-a2", [.. tls, "--etcd-user", "idle", "--etcd-password-file", PasswordFile("idle", "idle-pw")]);
        Assert.Contains("lacks the permission", idleError);
        Assert.Contains("--etcd-user", idleError);

        var node = await _daemons.StartAsync("clu19b-an", extra: [.. tls, "--etcd-user", "ops", "--etcd-password-file", PasswordFile("ops", "ops-pw")]);
        await node.Socket.CreateAsync(new InstanceSpec
        {
            Name = "with-auth",
            Tier = "fake",
            Args = ["sleep"],
            Resources = new ResourceSpec { Cpus = 0.01, MemoryBytes = 8L << 20 },
        });
        Assert.True(await TestEnvironment.EventuallyAsync(() => node.Socket.ListAsync().GetAwaiter().GetResult().Items is [{ Name: "with-auth", State: "running" }],
            TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(100)), "the instance did not run on the node that authenticates to etcd; its log:\n" + node.LastOutput());
        var keys = Etcdctl("--user", "ops:ops-pw", "get", "--prefix", "--keys-only", ClusterKeys.AssignmentsOf("clu19b-an"));
        Assert.Contains("with-auth", keys);
    }

    private string PasswordFile(string name, string password)
    {
        var path = Path.Combine(_etcd.Dir, name + ".password");
        File.WriteAllText(path, password + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    private string Etcdctl(params string[] args)
    {
        var (code, stdout, err) = TestEnvironment.Exec("/usr/bin/etcdctl", ["--endpoints", "https://127.0.0.1:" + _etcd.Port, "--cacert", _etcd.CaFile,
            "--cert", _etcd.ClientCert, "--key", _etcd.ClientKey, .. args]);
        Assert.True(code == 0, "etcdctl " + string.Join(' ', args) + ": " + err);
        return stdout;
    }

    /// <summary>Starts a node that must stop at start; returns what it wrote (stderr and stdout).</summary>
    private async Task<string> FailToStartAsync(string node, IEnumerable<string> extra)
    {
        (int ExitCode, string Stdout, string Stderr) run;
        try
        {
            run = await ChildProcess.RunAsync(PublishedDaemon.Binary, _daemons.Arguments(node, TestEnvironment.FreeLoopbackPort(), _daemons.TokenFile, extra), TimeSpan.FromSeconds(90));
        }
        catch (TimeoutException)
        {
            Assert.Fail($"stratad {node} did not stop without a usable etcd connection");
            throw;
        }
        var text = run.Stderr + "\n" + run.Stdout;
        Assert.True(run.ExitCode != 0, $"stratad {node} exited 0: {text}");
        var error = text.Split('\n').LastOrDefault(l => l.StartsWith("stratad:", StringComparison.Ordinal)) ?? text;
        output.WriteLine($"{node} {string.Join(' ', extra)}:\n  {error}");
        return error;
    }
}
