using System.Globalization;
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
/// client at a time, so all execs of one sandbox share one connection (<see cref="GuestExecChannel"/>).
/// </summary>
public sealed partial class SandboxDriver
{
    private readonly GuestExecChannels _execChannels = new();

    public async Task<int> ExecAsync(DriverHandle handle, ExecRequest request, Func<string, ReadOnlyMemory<byte>, ValueTask> output, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (request?.Tty == true)
        {
            throw StrataException.Invalid("tty", "a terminal needs the attached exec: strata exec -t NAME -- CMD (GET /v1/instances/{name}/exec/attach?tty=true); POST /exec streams output only");
        }
        var (script, sup, ticks) = PrepareExec(handle, request!);
        var id = NewExecId();
        var channel = await _execChannels.AcquireAsync(Path.Combine(handle.Directory, ExecSocketName), sup, ticks, cancellationToken).ConfigureAwait(false);
        try
        {
            var replies = channel.Register(id);
            await channel.SendAsync($"{id} {Convert.ToBase64String(Encoding.UTF8.GetBytes(script))}", cancellationToken).ConfigureAwait(false);
            await foreach (var reply in replies.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                switch (reply.Kind)
                {
                    case '1':
                        await output("stdout", Convert.FromBase64String(reply.Payload)).ConfigureAwait(false);
                        break;
                    case '2':
                        await output("stderr", Convert.FromBase64String(reply.Payload)).ConfigureAwait(false);
                        break;
                    case 'X':
                        return int.Parse(reply.Payload, NumberStyles.Integer, CultureInfo.InvariantCulture);
                }
            }
            throw new StrataException(ErrorKind.Conflict, "the sandbox stopped before the command finished");
        }
        finally
        {
            channel.Unregister(id);
            _execChannels.Release(channel);
        }
    }

    private static string NewExecId() => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6));

    /// <summary>Checks the request and that the sandbox runs; the guest script (env, user, working directory) and the supervisor's identity.</summary>
    private static (string Script, int SupervisorPid, long SupervisorTicks) PrepareExec(DriverHandle handle, ExecRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Command.Count == 0 || string.IsNullOrEmpty(request.Command[0]))
        {
            throw StrataException.Invalid("command", "exec needs a command, e.g. strata exec NAME -- ps");
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
        return (script, sup, ticks);
    }
}
