using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Drivers.Container;
using Strata.Node.Supervision;
using Strata.Qemu.Guest;

namespace Strata.Node.Drivers.Sandbox;

/// <summary>
/// <c>strata exec</c> into a sandbox: the guest's exec agent (<see cref="GuestInit.ExecAgentScript"/>) reads
/// requests from the <c>strata.exec</c> virtio-serial port, whose host side is the unix socket
/// <c>&lt;instanceDir&gt;/exec.sock</c> served by QEMU. A request is one line <c>ID BASE64(script)</c>; the
/// replies are lines <c>ID 1|2 BASE64</c> (stdout / stderr bytes) and <c>ID X CODE</c> last. QEMU serves one
/// client at a time, so requests to one sandbox take turns on the socket.
/// </summary>
public sealed partial class SandboxDriver
{
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _execTurns = new(StringComparer.Ordinal);

    public async Task<int> ExecAsync(DriverHandle handle, ExecRequest request, Func<string, ReadOnlyMemory<byte>, ValueTask> output, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(output);
        if (request.Command.Count == 0 || string.IsNullOrEmpty(request.Command[0]))
        {
            throw StrataException.Invalid("command", "exec needs a command, e.g. strata exec NAME -- ps");
        }
        if (request.Tty)
        {
            throw StrataException.Invalid("tty", "the sandbox tier's exec streams output only; drop -t");
        }
        if (handle.SupervisorPid is not { } sup || handle.SupervisorStartTicks is not { } ticks || !ProcessIdentity.IsAlive(sup, ticks))
        {
            throw new StrataException(ErrorKind.Conflict, "the sandbox is not running; start it first");
        }
        var workload = SandboxWorkload.Load(handle.Directory);
        var env = new Dictionary<string, string>(workload.Env, StringComparer.Ordinal);
        foreach (var (k, v) in request.Env ?? new Dictionary<string, string>())
        {
            env[k] = v;
        }
        // Like docker exec: the sandbox's own user unless --user names another (resolved in the image's /etc/passwd).
        var (uid, gid, home) = (workload.Uid, workload.Gid, workload.Home);
        if (request.User is { Length: > 0 } user)
        {
            (uid, gid) = Workloads.ImageUsers.Resolve(user, workload.Layers, "user");
            var derived = env.TryGetValue("HOME", out var current) && current == workload.Home;
            home = Workloads.ImageUsers.HomeOf(uid, workload.Layers);
            if (derived && request.Env?.ContainsKey("HOME") != true)
            {
                env["HOME"] = home; // the sandbox user's HOME was derived from its passwd entry: the other user gets theirs
            }
        }
        var script = new GuestWorkload(request.Command, env, request.WorkingDir ?? workload.WorkingDir, uid, gid, home).ToScript();
        var id = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6));
        var line = $"{id} {Convert.ToBase64String(Encoding.UTF8.GetBytes(script))}\n";

        var socketPath = Path.Combine(handle.Directory, ExecSocketName);
        var turn = _execTurns.GetOrAdd(socketPath, _ => new SemaphoreSlim(1, 1));
        await turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var socket = await ConnectAsync(socketPath, sup, ticks, cancellationToken).ConfigureAwait(false);
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            await stream.WriteAsync(Encoding.ASCII.GetBytes(line), cancellationToken).ConfigureAwait(false);
            using var reader = new StreamReader(stream, Encoding.ASCII);
            while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } reply)
            {
                var parts = reply.Split(' ', 3);
                if (parts.Length != 3 || parts[0] != id)
                {
                    continue; // a reply of an earlier, abandoned request
                }
                switch (parts[1])
                {
                    case "1":
                        await output("stdout", Convert.FromBase64String(parts[2])).ConfigureAwait(false);
                        break;
                    case "2":
                        await output("stderr", Convert.FromBase64String(parts[2])).ConfigureAwait(false);
                        break;
                    case "X":
                        return int.Parse(parts[2], NumberStyles.Integer, CultureInfo.InvariantCulture);
                }
            }
            throw new StrataException(ErrorKind.Conflict, "the sandbox stopped before the command finished");
        }
        finally
        {
            turn.Release();
        }
    }

    /// <summary>QEMU creates the socket a moment after it starts: retry (every 50 ms, up to 10 s) while the VM runs.</summary>
    private static async Task<Socket> ConnectAsync(string socketPath, int supervisorPid, long supervisorTicks, CancellationToken ct)
    {
        var deadline = Environment.TickCount64 + 10_000;
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct).ConfigureAwait(false);
                return socket;
            }
            catch (SocketException e)
            {
                socket.Dispose();
                if (Environment.TickCount64 > deadline || !ProcessIdentity.IsAlive(supervisorPid, supervisorTicks))
                {
                    throw new StrataException(ErrorKind.Conflict, $"the sandbox's exec channel {socketPath} is not accepting ({e.SocketErrorCode}); is it still running?", inner: e);
                }
            }
            await Task.Delay(50, ct).ConfigureAwait(false);
        }
    }
}
