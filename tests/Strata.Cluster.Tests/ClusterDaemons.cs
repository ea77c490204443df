using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Strata.Client;
using Strata.Testing;

namespace Strata.Cluster.Tests;

/// <summary>One published stratad joined to the cluster: its socket client, TCP port and admin token.</summary>
public sealed record ClusterDaemon(string Node, Process Process, StrataClient Socket, int Port, string AdminToken, bool Tls)
{
    /// <summary>What the daemon wrote (stdout and stderr), line by line: for a failing test's message.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> Output { get; init; } = new();

    /// <summary>The last <paramref name="count"/> lines the daemon wrote.</summary>
    public string LastOutput(int count = 60) => string.Join('\n', Output.TakeLast(count));

    /// <summary>A client of this node's TCP listener with <paramref name="token"/> (plain HTTP nodes only).</summary>
    public StrataClient Tcp(string token) => new(new ClientOptions { Host = new Uri($"http://127.0.0.1:{Port}"), Token = token });
}

/// <summary>
/// Published stratad daemons on the shared etcd cluster, each with its own root, socket, node name and TCP port,
/// all holding one cluster token (0600) unless told otherwise; a node may serve its API over TLS with a
/// self-signed certificate. Everything is killed and removed at dispose.
/// </summary>
public sealed class ClusterDaemons(string etcd, string prefix) : IAsyncDisposable
{
    public ClusterDaemons(EtcdCluster etcd, string prefix) : this(etcd.ConnectionString, prefix)
    {
    }

    public string Dir { get; } = Path.Combine(Path.GetTempPath(), prefix + "-" + Guid.NewGuid().ToString("N")[..8]);
    public List<ClusterDaemon> Nodes { get; } = [];

    /// <summary>The cluster's token file (written once).</summary>
    public string TokenFile => WriteToken("cluster.token", "c19" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)), once: true);

    /// <summary>Writes a token file (0600) under the directory and returns its path.</summary>
    public string WriteToken(string name, string token, bool once = false)
    {
        Directory.CreateDirectory(Dir);
        var path = Path.Combine(Dir, name);
        if (once && File.Exists(path))
        {
            return path;
        }
        File.WriteAllText(path, token + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    /// <summary>The arguments of a cluster node (its token file and any extra flags appended).</summary>
    public IReadOnlyList<string> Arguments(string node, int port, string tokenFile, IEnumerable<string>? extra = null) =>
    [
        "--root", Path.Combine(Dir, node), "--socket", Path.Combine(Dir, node + ".sock"), "--node", node,
        "--listen", "127.0.0.1:" + port, "--token-file", Path.Combine(Dir, node + ".admin"),
        "--cluster", etcd, "--cluster-lease-ttl", "3", "--cluster-replace-grace", "3",
        "--cluster-token-file", tokenFile, "--enable-fake-tier", "--no-docker-socket", .. extra ?? [],
    ];

    public async Task<ClusterDaemon> StartAsync(string node, bool tls = false, IEnumerable<string>? extra = null)
    {
        Directory.CreateDirectory(Dir);
        var port = TestEnvironment.FreeLoopbackPort();
        var flags = new List<string>(extra ?? []);
        if (tls)
        {
            var (cert, key) = SelfSigned(node);
            flags.AddRange(["--tls-cert", cert, "--tls-key", key]);
        }
        var socket = Path.Combine(Dir, node + ".sock");
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var process = await PublishedDaemon.StartAsync(socket, Arguments(node, port, TokenFile, flags), output: line =>
        {
            output.Enqueue(line);
            while (output.Count > 2000 && output.TryDequeue(out _))
            {
            }
        });
        var daemon = new ClusterDaemon(node, process, new StrataClient(new ClientOptions { Socket = socket }), port,
            File.ReadAllText(Path.Combine(Dir, node + ".admin")).Trim(), tls) { Output = output };
        Nodes.Add(daemon);
        return daemon;
    }

    /// <summary>A self-signed certificate for 127.0.0.1 as PEM files (certificate, key).</summary>
    private (string Cert, string Key) SelfSigned(string node)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + node, key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var certPath = Path.Combine(Dir, node + ".crt");
        var keyPath = Path.Combine(Dir, node + ".key");
        File.WriteAllText(certPath, cert.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return (certPath, keyPath);
    }

    /// <summary>Whether an API call answers without an error: polled until a project or token made on one node reaches another.</summary>
    public static bool Works(Func<Task> call)
    {
        try
        {
            call().GetAwaiter().GetResult();
            return true;
        }
        catch (StrataApiException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var n in Nodes)
        {
            n.Socket.Dispose();
            try
            {
                await PublishedDaemon.KillAsync(n.Process);
            }
            catch (InvalidOperationException)
            {
                // already killed by the test
            }
        }
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
