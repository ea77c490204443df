using System.Diagnostics;
using System.Globalization;
using Strata.Testing;

namespace Strata.Cluster.Tests;

/// <summary>
/// One etcd member serving its clients over TLS with <c>--client-cert-auth</c> (etcd 3.4's flags), its CA and
/// certificates made with openssl in a temp dir: a CA, the member's certificate (for 127.0.0.1), a client
/// certificate the member trusts, and one from another CA it does not.
/// </summary>
public sealed class TlsEtcd : IAsyncDisposable
{
    private Process? _member;

    private TlsEtcd(string dir) => Dir = dir;

    public string Dir { get; }
    public int Port { get; private set; }
    public string ConnectionString => "etcd://127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);
    public string CaFile => Path.Combine(Dir, "ca.crt");
    public string ClientCert => Path.Combine(Dir, "client.crt");
    public string ClientKey => Path.Combine(Dir, "client.key");
    public string StrangerCert => Path.Combine(Dir, "stranger.crt");
    public string StrangerKey => Path.Combine(Dir, "stranger.key");

    public static async Task<TlsEtcd> StartAsync(string prefix)
    {
        var etcd = TestEnvironment.Which("etcd");
        TestEnvironment.Require(etcd is not null, "etcd is not installed (apt-get install etcd-server; scripts/deps/cluster.txt)");
        TestEnvironment.Require(TestEnvironment.Which("openssl") is not null, "openssl is not installed");
        var t = new TlsEtcd(Path.Combine(Path.GetTempPath(), prefix + "-" + Guid.NewGuid().ToString("N")[..8]));
        Directory.CreateDirectory(t.Dir);
        t.MakeCertificates();
        t.Port = TestEnvironment.FreeLoopbackPort();
        var peer = TestEnvironment.FreeLoopbackPort();
        var client = "https://127.0.0.1:" + t.Port.ToString(CultureInfo.InvariantCulture);
        var peerUrl = "http://127.0.0.1:" + peer.ToString(CultureInfo.InvariantCulture);
        var psi = new ProcessStartInfo(etcd!) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[]
        {
            "--name", "m0", "--data-dir", Path.Combine(t.Dir, "data"),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peerUrl, "--initial-advertise-peer-urls", peerUrl, "--initial-cluster", "m0=" + peerUrl,
            "--cert-file", Path.Combine(t.Dir, "server.crt"), "--key-file", Path.Combine(t.Dir, "server.key"),
            "--client-cert-auth", "--trusted-ca-file", t.CaFile,
            "--logger", "zap", "--log-level", "error",
        })
        {
            psi.ArgumentList.Add(a);
        }
        t._member = Process.Start(psi)!;
        t._member.OutputDataReceived += (_, _) => { };
        t._member.ErrorDataReceived += (_, _) => { };
        t._member.BeginOutputReadLine();
        t._member.BeginErrorReadLine();
        var up = await TestEnvironment.EventuallyAsync(() => TestEnvironment.Exec("/usr/bin/etcdctl",
            ["--endpoints", client, "--cacert", t.CaFile, "--cert", t.ClientCert, "--key", t.ClientKey, "--command-timeout=2s", "endpoint", "health"]).ExitCode == 0,
            TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(100));
        Assert.True(up, "the TLS etcd member did not become healthy within 60 s");
        return t;
    }

    private void MakeCertificates()
    {
        OpenSsl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=clu19b test CA");
        OpenSsl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "other-ca.key", "-out", "other-ca.crt", "-days", "1", "-subj", "/CN=clu19b other CA");
        Sign("server", "etcd", "ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
        Sign("client", "strata", "ca", "extendedKeyUsage=clientAuth\n");
        Sign("stranger", "strata", "other-ca", "extendedKeyUsage=clientAuth\n");
        foreach (var key in Directory.GetFiles(Dir, "*.key"))
        {
            File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    private void Sign(string name, string cn, string ca, string extensions)
    {
        File.WriteAllText(Path.Combine(Dir, name + ".ext"), extensions);
        OpenSsl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn);
        OpenSsl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key", "-CAcreateserial", "-out", name + ".crt", "-days", "1", "-extfile", name + ".ext");
    }

    private void OpenSsl(params string[] args)
    {
        var (code, _, err) = TestEnvironment.Exec("openssl", [.. args.Select(a => a.EndsWith(".key", StringComparison.Ordinal) || a.EndsWith(".crt", StringComparison.Ordinal)
            || a.EndsWith(".csr", StringComparison.Ordinal) || a.EndsWith(".ext", StringComparison.Ordinal) ? Path.Combine(Dir, a) : a)]);
        Assert.True(code == 0, "openssl " + string.Join(' ', args) + ": " + err);
    }

    public ValueTask DisposeAsync()
    {
        try
        {
            _member?.Kill();
            _member?.WaitForExit();
        }
        catch (InvalidOperationException)
        {
        }
        _member?.Dispose();
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
        return ValueTask.CompletedTask;
    }
}
