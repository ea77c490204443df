using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Xunit;

namespace Strata.Testing;

/// <summary>
/// A real 3-member etcd cluster on loopback for cluster tests: Debian's <c>/usr/bin/etcd</c>, ports from the
/// kernel's allocator (held together until the members start), data in a temp dir. Members can be killed
/// (<c>kill -9</c>) and started again on their data to test quorum loss. Everything is killed and removed at
/// dispose. Share one per test collection (a <c>[CollectionDefinition]</c> with <c>ICollectionFixture&lt;EtcdCluster&gt;</c> in the test project): starting it costs a second or two.
/// </summary>
public sealed class EtcdCluster : IAsyncLifetime
{
    private readonly Process?[] _members;
    private readonly int[] _clientPorts;
    private readonly int[] _peerPorts;
    private readonly string _dataRoot;
    private readonly string _token;

    public EtcdCluster()
    {
        const int members = 3;
        _members = new Process?[members];
        _clientPorts = new int[members];
        _peerPorts = new int[members];
        _dataRoot = Path.Combine(Path.GetTempPath(), "strata-etcd-" + Guid.NewGuid().ToString("N")[..10]);
        _token = "strata-test-" + Guid.NewGuid().ToString("N")[..8];
    }

    public int Size => _members.Length;

    /// <summary><c>etcd://127.0.0.1:P1,127.0.0.1:P2,…</c>, the form <c>stratad --cluster</c> takes.</summary>
    public string ConnectionString => "etcd://" + string.Join(',', _clientPorts.Select(p => "127.0.0.1:" + p.ToString(CultureInfo.InvariantCulture)));

    /// <summary>The client URLs, <c>http://127.0.0.1:P</c>.</summary>
    public IReadOnlyList<string> ClientUrls => _clientPorts.Select(p => "http://127.0.0.1:" + p.ToString(CultureInfo.InvariantCulture)).ToList();

    public async Task InitializeAsync()
    {
        var etcd = TestEnvironment.Which("etcd");
        TestEnvironment.Require(etcd is not null, "etcd is not installed (apt-get install etcd-server; scripts/deps/cluster.txt)");
        // Hold every port at once so no two members (or another test) get the same one, release just before starting.
        var held = new List<TcpListener>();
        for (var i = 0; i < _members.Length; i++)
        {
            _clientPorts[i] = Hold(held);
            _peerPorts[i] = Hold(held);
        }
        foreach (var l in held)
        {
            l.Stop();
        }
        Directory.CreateDirectory(_dataRoot);
        for (var i = 0; i < _members.Length; i++)
        {
            Start(i, existing: false);
        }
        var up = await TestEnvironment.EventuallyAsync(() => Healthy(_members.Length), TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(100));
        Assert.True(up, "the etcd cluster did not become healthy within 60 s");
    }

    public Task DisposeAsync()
    {
        for (var i = 0; i < _members.Length; i++)
        {
            Kill(i);
        }
        try
        {
            Directory.Delete(_dataRoot, recursive: true);
        }
        catch (IOException)
        {
        }
        return Task.CompletedTask;
    }

    /// <summary><c>kill -9</c> of member <paramref name="index"/> (its data stays).</summary>
    public void Kill(int index)
    {
        var p = _members[index];
        if (p is null)
        {
            return;
        }
        try
        {
            p.Kill();
            p.WaitForExit();
        }
        catch (InvalidOperationException)
        {
        }
        p.Dispose();
        _members[index] = null;
    }

    /// <summary>Starts a killed member again on its data and waits until the cluster answers through it.</summary>
    public async Task RestartAsync(int index)
    {
        if (_members[index] is not null)
        {
            return;
        }
        Start(index, existing: true);
        var up = await TestEnvironment.EventuallyAsync(() => Healthy(1, index), TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(100));
        Assert.True(up, $"etcd member {index} did not come back within 60 s");
    }

    /// <summary>True when every member in <paramref name="only"/> (or <paramref name="count"/> members) answers a linearizable read.</summary>
    private bool Healthy(int count, int? only = null)
    {
        var indexes = only is int o ? [o] : Enumerable.Range(0, count);
        foreach (var i in indexes)
        {
            var url = "http://127.0.0.1:" + _clientPorts[i].ToString(CultureInfo.InvariantCulture);
            var (code, _, _) = TestEnvironment.Exec("/usr/bin/etcdctl", ["--endpoints", url, "--command-timeout=2s", "endpoint", "health"]);
            if (code != 0)
            {
                return false;
            }
        }
        return true;
    }

    private void Start(int i, bool existing)
    {
        var name = "m" + i.ToString(CultureInfo.InvariantCulture);
        var initial = string.Join(',', _peerPorts.Select((p, j) => $"m{j}=http://127.0.0.1:{p}"));
        var psi = new ProcessStartInfo("/usr/bin/etcd")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in new[]
        {
            "--name", name,
            "--data-dir", Path.Combine(_dataRoot, name),
            "--listen-client-urls", "http://127.0.0.1:" + _clientPorts[i].ToString(CultureInfo.InvariantCulture),
            "--advertise-client-urls", "http://127.0.0.1:" + _clientPorts[i].ToString(CultureInfo.InvariantCulture),
            "--listen-peer-urls", "http://127.0.0.1:" + _peerPorts[i].ToString(CultureInfo.InvariantCulture),
            "--initial-advertise-peer-urls", "http://127.0.0.1:" + _peerPorts[i].ToString(CultureInfo.InvariantCulture),
            "--initial-cluster", initial,
            "--initial-cluster-token", _token,
            "--initial-cluster-state", existing ? "existing" : "new",
            "--logger", "zap", "--log-level", "error",
            // A placement batch is 3 operations per instance (docs/cluster.md).
            "--max-txn-ops", "1024",
        })
        {
            psi.ArgumentList.Add(a);
        }
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _members[i] = p;
    }

    private static int Hold(List<TcpListener> held)
    {
        var l = new TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        held.Add(l);
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }
}
