using System.Diagnostics;
using System.Globalization;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Cgroups;
using Strata.Node.Supervision;
using Strata.Node.Stats;

namespace Strata.Node.Drivers.Container;

/// <summary>exec, stats and top.</summary>
public sealed partial class ContainerDriver
{
    public async Task<int> ExecAsync(DriverHandle handle, ExecRequest request, Func<string, ReadOnlyMemory<byte>, ValueTask> output, CancellationToken cancellationToken)
    {
        if (request.Tty)
        {
            throw StrataException.Invalid("tty", "a terminal needs the attached exec: strata exec -t NAME -- CMD (GET /v1/instances/{name}/exec/attach?tty=true); POST /exec streams output only");
        }
        var runtime = await RuntimeAsync(cancellationToken).ConfigureAwait(false);
        var start = await ExecStartAsync(runtime, handle, request, cancellationToken).ConfigureAwait(false);
        start.RedirectStandardInput = true;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;

        using var process = System.Diagnostics.Process.Start(start) ?? throw new StrataException(ErrorKind.Internal, $"could not start {runtime.Path} exec");
        process.StandardInput.Close();
        using var gate = new SemaphoreSlim(1, 1);
        async Task PumpAsync(Stream stream, string name)
        {
            var buffer = new byte[16 * 1024];
            int n;
            while ((n = await stream.ReadAsync(buffer, CancellationToken.None).ConfigureAwait(false)) > 0)
            {
                await gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
                try
                {
                    await output(name, buffer.AsMemory(0, n)).ConfigureAwait(false);
                }
                finally
                {
                    gate.Release();
                }
            }
        }
        var pumps = Task.WhenAll(PumpAsync(process.StandardOutput.BaseStream, "stdout"), PumpAsync(process.StandardError.BaseStream, "stderr"));
        try
        {
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The runtime forwards the signal to the exec'd process.
            Supervision.Signals.Send(process.Id, Supervision.Signals.SIGKILL);
            throw;
        }
        // Output held open by a background child of the command must not hold the answer forever.
        await pumps.WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
        return process.ExitCode;
    }

    /// <summary>Validates the request and builds <c>runtime exec [--tty] ... ID CMD...</c> (nothing redirected yet).</summary>
    private async Task<ProcessStartInfo> ExecStartAsync(OciRuntime runtime, DriverHandle handle, ExecRequest request, CancellationToken cancellationToken)
    {
        if (request.Command is not { Count: > 0 } || request.Command.Any(string.IsNullOrEmpty))
        {
            throw StrataException.Invalid("command", "give the command to run, e.g. strata exec NAME -- sh -c 'echo hi'");
        }
        if (request.WorkingDir is { } wd && !wd.StartsWith('/'))
        {
            throw StrataException.Invalid("workingDir", $"'{wd}' is not an absolute path");
        }
        await EnsureRunningAsync(runtime, handle, "exec in", cancellationToken).ConfigureAwait(false);

        var start = new ProcessStartInfo(runtime.Path) { UseShellExecute = false };
        foreach (var a in runtime.GlobalArgs)
        {
            start.ArgumentList.Add(a);
        }
        start.ArgumentList.Add("exec");
        if (request.Tty)
        {
            start.ArgumentList.Add("--tty");
        }
        foreach (var (k, v) in request.Env ?? new Dictionary<string, string>())
        {
            start.ArgumentList.Add("--env");
            start.ArgumentList.Add(k + "=" + v);
        }
        if (request.WorkingDir is { } cwd)
        {
            start.ArgumentList.Add("--cwd");
            start.ArgumentList.Add(cwd);
        }
        if (request.User is { } user)
        {
            var layers = Rootfs(handle).Layers;
            var (uid, gid) = Workloads.ImageUsers.Resolve(user, layers, "user");
            start.ArgumentList.Add("--user");
            start.ArgumentList.Add($"{uid}:{gid}");
            if (request.Env?.ContainsKey("HOME") != true)
            {
                // The container's HOME is its own user's; another user gets theirs (added last, so it wins).
                start.ArgumentList.Add("--env");
                start.ArgumentList.Add("HOME=" + Workloads.ImageUsers.HomeOf(uid, layers));
            }
        }
        start.ArgumentList.Add(handle.InstanceId);
        foreach (var a in request.Command)
        {
            start.ArgumentList.Add(a);
        }
        return start;
    }

    private static async Task EnsureRunningAsync(OciRuntime runtime, DriverHandle handle, string verb, CancellationToken ct)
    {
        var state = await SettledStateAsync(runtime, handle, ct).ConfigureAwait(false);
        if (state is not { Status: "running" })
        {
            throw StrataException.Conflict($"cannot {verb} the container: it is {state?.Status ?? "not running"}; start it first");
        }
    }

    /// <summary>
    /// The runtime's state of a container, given up to 2 s while its supervisor lives and the runtime is still between
    /// create and start: right after <c>strata run -d</c> (or <c>docker run -d</c>) the state may not exist yet, or say
    /// "created", while the runtime has already read the bundle. Exec and resize both ask it this way.
    /// </summary>
    private static async Task<(string Status, int Pid)?> SettledStateAsync(OciRuntime runtime, DriverHandle handle, CancellationToken ct)
    {
        var state = await runtime.StateAsync(handle.InstanceId, ct).ConfigureAwait(false);
        for (var attempt = 0; attempt < 100 && (state is null || state.Value.Status == "created") && SupervisedRuntime.SupervisorAlive(handle); attempt++)
        {
            await Task.Delay(20, ct).ConfigureAwait(false);
            state = await runtime.StateAsync(handle.InstanceId, ct).ConfigureAwait(false);
        }
        return state;
    }

    public async Task<string> RuntimeConfigAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        try
        {
            return await File.ReadAllTextAsync(Path.Combine(handle.Directory, "config.json"), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new StrataException(ErrorKind.NotFound, $"the bundle of instance {handle.InstanceId} has no config.json any more (it is being removed)");
        }
    }

    public async Task<InstanceStats> StatsAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        var cgroups = new ContainerCgroups(handle.InstanceId, _options.CgroupParent);
        var cpu = await StatsWindow.ReadTwiceAsync(cgroups.CpuNanoseconds, cancellationToken).ConfigureAwait(false);
        var spec = ReadSpecLimits(handle);
        return cpu.Stats(handle.InstanceId, ns => ns) with
        {
            MemoryBytes = cgroups.MemoryBytes(),
            MemoryLimitBytes = spec.Memory,
            Pids = cgroups.PidsCurrent(),
            PidsLimit = spec.Pids,
        };
    }

    public Task<UsageReading> ReadUsageAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        var cgroups = new ContainerCgroups(handle.InstanceId, _options.CgroupParent);
        // Strata's memory parent, or the runtime's own cgroup when there is none (a limit set later by resize lives there).
        var memoryDir = handle.Data.GetValueOrDefault(MemoryCgroupKey) ?? cgroups.MemoryDirectory;
        // cgroup v1 counts an OOM kill in the victim's own cgroup, the runtime's below Strata's parent (v2 counts it in
        // the parent too, hierarchically): the larger of the two counts each kill once.
        var oomKills = Math.Max(CgroupSet.ReadOomKills(memoryDir), CgroupSet.ReadOomKills(Path.Combine(memoryDir, ContainerCgroups.Leaf)));
        return Task.FromResult(new UsageReading(cgroups.CpuNanoseconds(), cgroups.MemoryBytes(), CgroupLimits.ReadMemoryLimit(memoryDir), oomKills));
    }

    private (long? Memory, long? Pids) ReadSpecLimits(DriverHandle handle)
    {
        var memoryDir = handle.Data.GetValueOrDefault(MemoryCgroupKey) ?? new ContainerCgroups(handle.InstanceId, _options.CgroupParent).MemoryDirectory;
        return (CgroupLimits.ReadMemoryLimit(memoryDir), handle.Data.TryGetValue(PidsLimitKey, out var p) ? long.Parse(p, CultureInfo.InvariantCulture) : null);
    }

    public Task<IReadOnlyList<ProcessEntry>> TopAsync(DriverHandle handle, CancellationToken cancellationToken) =>
        Task.FromResult(Strata.Node.Stats.HostProcesses.Entries(new ContainerCgroups(handle.InstanceId, _options.CgroupParent).Processes()));
}
