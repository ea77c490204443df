using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Strata.Client;

namespace Strata.Testing;

/// <summary>
/// One published stratad (<see cref="PublishedDaemon"/>) on its own data root with its socket beside it
/// (<c>ROOT.sock</c>) and a node name of the test's own, listening on a free loopback TCP port when asked: one side of a
/// test that runs two daemons on one host (a move). It can be stopped, killed and started again on the same root, port
/// and name. Disposing it removes its instances, stops it (SIGTERM, then <c>kill -9</c> after 30 s) and kills a QEMU
/// of its root that outlived it.
/// </summary>
public sealed class PublishedNode : IAsyncDisposable
{
    private readonly bool _listen;
    private readonly IReadOnlyList<string> _extraArguments;
    private readonly string _outputPrefix;
    private readonly List<StrataClient> _clients = [];

    /// <param name="root">The data root (its socket is <c>ROOT.sock</c>).</param>
    /// <param name="node">Its <c>--node</c> name: node-scoped names (bridges, cgroups) derive from it, so a test's own.</param>
    /// <param name="listen">Listen on a free loopback TCP port (<see cref="Address"/>), as a move's target must.</param>
    /// <param name="extraArguments">More stratad arguments, after the common ones.</param>
    /// <param name="output">Where its output lines go (each after <paramref name="outputPrefix"/>): a queue shared with another node, or its own.</param>
    /// <param name="outputPrefix">Put before each of its lines, to tell two nodes' lines apart in a shared queue.</param>
    public PublishedNode(string root, string node, bool listen = true, IEnumerable<string>? extraArguments = null,
        ConcurrentQueue<string>? output = null, string outputPrefix = "")
    {
        Root = root;
        Node = node;
        _listen = listen;
        Port = listen ? TestEnvironment.FreeLoopbackPort() : 0;
        _extraArguments = [.. extraArguments ?? []];
        Output = output ?? new ConcurrentQueue<string>();
        _outputPrefix = outputPrefix;
    }

    public string Root { get; }

    public string Node { get; }

    public string Socket => Root + ".sock";

    /// <summary>Its loopback TCP port (0 when it does not listen).</summary>
    public int Port { get; }

    /// <summary>Its TCP listener's URL, <c>http://127.0.0.1:PORT</c>.</summary>
    public string Address => $"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The admin token the daemon wrote in its root (what a move's source presents to this target).</summary>
    public string Token => File.ReadAllText(Path.Combine(Root, "admin.token")).Trim();

    /// <summary>The running daemon; null before the first start and after a kill.</summary>
    public Process? Daemon { get; private set; }

    /// <summary>
    /// A client of its socket, new at each start; an earlier one (a test may hold it across a restart) still works,
    /// and all are disposed with the node.
    /// </summary>
    public StrataClient Client { get; private set; } = null!;

    /// <summary>Its output lines (the shared queue when one was given).</summary>
    public ConcurrentQueue<string> Output { get; }

    /// <summary>Starts the daemon (again, after a kill: same root, port and name) and waits until it answers.</summary>
    public async Task StartAsync()
    {
        List<string> args = ["--root", Root, "--socket", Socket, "--node", Node, "--no-docker-socket", "--log-max-size", "1M"];
        if (_listen)
        {
            args.AddRange(["--listen", $"127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}"]);
        }
        args.AddRange(_extraArguments);
        Daemon = await PublishedDaemon.StartAsync(Socket, args, output: line => Output.Enqueue(_outputPrefix + line));
        Client = new StrataClient(new ClientOptions { Socket = Socket });
        _clients.Add(Client);
    }

    /// <summary>Sends <paramref name="signal"/> (<c>STOP</c>, <c>CONT</c> …) to the daemon.</summary>
    public void Signal(string signal) => TestEnvironment.Exec("kill", [$"-{signal}", Daemon!.Id.ToString(CultureInfo.InvariantCulture)]);

    /// <summary><c>kill -9</c> of the daemon (a stopped one included), and waits for it.</summary>
    public async Task KillAsync()
    {
        await PublishedDaemon.KillAsync(Daemon!);
        Daemon = null;
    }

    /// <summary>The QEMU processes of this daemon's instances (their command line names a path under its instances directory).</summary>
    public IReadOnlyList<int> Qemus() => ProcessCensus.Qemus(Root + "/instances/");

    /// <summary>The last <paramref name="lines"/> lines of its output, for a failure message.</summary>
    public string OutputTail(int lines = 40) => string.Join('\n', Output.TakeLast(lines));

    public async ValueTask DisposeAsync()
    {
        if (Daemon is { } daemon)
        {
            Signal("CONT"); // a test may have left it stopped
            await PublishedDaemon.RemoveInstancesAsync(Client);
            await PublishedDaemon.StopAsync(daemon, TimeSpan.FromSeconds(30));
            Daemon = null;
        }
        foreach (var client in _clients)
        {
            client.Dispose();
        }
        foreach (var pid in Qemus())
        {
            TestEnvironment.Exec("kill", ["-KILL", pid.ToString(CultureInfo.InvariantCulture)]);
        }
    }
}

/// <summary>
/// Two <see cref="PublishedNode"/>s, <see cref="A"/> and <see cref="B"/>, on roots <c>a</c> and <c>b</c> of one
/// temporary directory, named <c>NODEPREFIX</c> + a random tag + <c>a</c>/<c>b</c> (so two test classes, or two runs,
/// never share node-scoped names). Disposing it disposes both nodes, then the directory.
/// </summary>
public sealed class PublishedNodePair : IAsyncDisposable
{
    private readonly TempDirectory _dir;

    /// <param name="directoryPrefix">The temporary directory's prefix (a short one: the sockets live in it).</param>
    /// <param name="nodePrefix">The start of both node names.</param>
    /// <param name="listenA">Whether A listens on TCP too (B always does: it is a move's first target).</param>
    /// <param name="output">A queue both nodes' output lines go to, each after <paramref name="prefixA"/> or <paramref name="prefixB"/>; each node keeps its own when null.</param>
    public PublishedNodePair(string directoryPrefix, string nodePrefix, bool listenA = true, ConcurrentQueue<string>? output = null,
        string prefixA = "", string prefixB = "")
    {
        var tag = string.Concat(Enumerable.Range(0, 4).Select(_ => (char)('a' + Random.Shared.Next(26))));
        _dir = new TempDirectory(directoryPrefix);
        A = new PublishedNode(_dir.Combine("a"), $"{nodePrefix}{tag}a", listenA, output: output, outputPrefix: prefixA);
        B = new PublishedNode(_dir.Combine("b"), $"{nodePrefix}{tag}b", listen: true, output: output, outputPrefix: prefixB);
    }

    public PublishedNode A { get; }

    public PublishedNode B { get; }

    /// <summary>Starts A, then B.</summary>
    public async Task StartAsync()
    {
        await A.StartAsync();
        await B.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await A.DisposeAsync();
        await B.DisposeAsync();
        _dir.Dispose();
    }
}
