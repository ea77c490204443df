using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Logs;
using Xunit;

namespace Strata.Testing;

/// <summary>
/// The lifecycle every driver must honour. Each driver's test project derives from this class and supplies
/// workloads in its own terms; a host without the engine skips (or fails under CI) with the reason.
/// </summary>
public abstract partial class DriverConformanceTests : IDisposable
{
    private readonly TempDirectory _temp = new("strata-conf");
    private readonly List<(IDriver Driver, DriverHandle Handle)> _created = [];

    /// <summary>A fresh driver object; called again to simulate a daemon restart.</summary>
    protected abstract IDriver CreateDriver();

    /// <summary>Prints <paramref name="text"/> on stdout and exits with <paramref name="exitCode"/>.</summary>
    protected abstract InstanceSpec EchoAndExit(string text, int exitCode);

    /// <summary>Runs until stopped.</summary>
    protected abstract InstanceSpec LongRunning();

    /// <summary>A spec this tier must refuse at create time.</summary>
    protected abstract InstanceSpec InvalidForThisTier();

    /// <summary>Skips (or fails in CI) when the host lacks the engine.</summary>
    protected virtual void RequireEngine()
    {
    }

    /// <summary>Whether workloads survive the loss of the driver object (daemon restart): what the driver declares.</summary>
    protected virtual bool SurvivesRestart => CreateDriver().Capabilities.SurvivesDaemonRestart;

    protected virtual TimeSpan Timeout => TimeSpan.FromSeconds(30);

    private async Task<(IDriver Driver, DriverHandle Handle)> CreateAsync(InstanceSpec spec, IDriver? driver = null)
    {
        driver ??= CreateDriver();
        var id = Guid.NewGuid().ToString("N");
        var dir = _temp.Combine(id);
        Directory.CreateDirectory(dir);
        var name = spec.Name ?? "conf-" + id[..8];
        var handle = await driver.CreateAsync(new CreateRequest
        {
            InstanceId = id,
            Name = name,
            Project = "default",
            Directory = dir,
            Spec = spec with { Name = name },
        }, CancellationToken.None);
        _created.Add((driver, handle));
        return (driver, handle);
    }

    private async Task<ExitStatus> WaitAsync(IDriver driver, DriverHandle handle)
    {
        using var cts = new CancellationTokenSource(Timeout);
        return await driver.WaitAsync(handle, cts.Token);
    }

    [SkippableFact]
    public async Task Start_WorkloadExits_ReportsItsExitCode()
    {
        RequireEngine();
        var (driver, handle) = await CreateAsync(EchoAndExit("hello-conformance", 3));
        handle = await driver.StartAsync(handle, CancellationToken.None);
        var exit = await WaitAsync(driver, handle);
        Assert.Equal(3, exit.ExitCode);
        Assert.False(exit.Failed);
    }

    [SkippableFact]
    public async Task Start_WorkloadPrints_OutputIsInTheLog()
    {
        RequireEngine();
        var (driver, handle) = await CreateAsync(EchoAndExit("hello-conformance", 0));
        handle = await driver.StartAsync(handle, CancellationToken.None);
        await WaitAsync(driver, handle);
        var records = CriLogReader.ReadTail(LogFiles.LogDirectory(handle.Directory), null);
        Assert.Contains(records, r => r.Stream == "stdout" && r.Text.Contains("hello-conformance", StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task Stop_RunningWorkload_EndsIt()
    {
        RequireEngine();
        var (driver, handle) = await CreateAsync(LongRunning());
        handle = await driver.StartAsync(handle, CancellationToken.None);
        var waiting = WaitAsync(driver, handle);
        Assert.False(waiting.IsCompleted);
        await driver.StopAsync(handle, TimeSpan.FromSeconds(5), CancellationToken.None);
        var exit = await waiting;
        Assert.NotEqual(0, exit.ExitCode);
    }

    [SkippableFact]
    public async Task Kill_RunningWorkload_ExitCodeIs128PlusSignal()
    {
        RequireEngine();
        var (driver, handle) = await CreateAsync(LongRunning());
        handle = await driver.StartAsync(handle, CancellationToken.None);
        await driver.KillAsync(handle, 9, CancellationToken.None);
        var exit = await WaitAsync(driver, handle);
        Assert.Equal(137, exit.ExitCode);
    }

    [SkippableFact]
    public async Task Recover_AfterRestart_FindsRunningWorkloadAndCanStopIt()
    {
        RequireEngine();
        var (driver, handle) = await CreateAsync(LongRunning());
        handle = await driver.StartAsync(handle, CancellationToken.None);
        if (!SurvivesRestart)
        {
            // A tier that declares it cannot outlive the daemon must say so, never claim a workload it lost.
            Assert.Equal(WorkloadPhase.Lost, (await CreateDriver().RecoverAsync(handle, CancellationToken.None)).Phase);
            return;
        }

        var restarted = CreateDriver();
        var status = await restarted.RecoverAsync(handle, CancellationToken.None);
        Assert.Equal(WorkloadPhase.Running, status.Phase);

        await restarted.StopAsync(handle, TimeSpan.FromSeconds(5), CancellationToken.None);
        var exit = await WaitAsync(restarted, handle);
        Assert.NotEqual(0, exit.ExitCode);
        var after = await CreateDriver().RecoverAsync(handle, CancellationToken.None);
        Assert.Equal(WorkloadPhase.Exited, after.Phase);
    }

    [SkippableFact]
    public async Task Recover_WorkloadEndedWhileAway_ReportsItsRealExitCode()
    {
        RequireEngine();
        var (driver, handle) = await CreateAsync(EchoAndExit("bye", 42));
        handle = await driver.StartAsync(handle, CancellationToken.None);
        await WaitAsync(driver, handle);
        if (!SurvivesRestart)
        {
            Assert.Equal(WorkloadPhase.Lost, (await CreateDriver().RecoverAsync(handle, CancellationToken.None)).Phase);
            return;
        }

        var status = await CreateDriver().RecoverAsync(handle, CancellationToken.None);
        Assert.Equal(WorkloadPhase.Exited, status.Phase);
        Assert.Equal(42, status.Exit!.ExitCode);
    }

    [SkippableFact]
    public async Task Create_InvalidSpec_IsRefusedWithTheField()
    {
        RequireEngine();
        var driver = CreateDriver();
        var dir = _temp.Combine("invalid");
        Directory.CreateDirectory(dir);
        var e = await Assert.ThrowsAsync<StrataException>(() => driver.CreateAsync(new CreateRequest
        {
            InstanceId = "invalid",
            Name = "invalid",
            Project = "default",
            Directory = dir,
            Spec = InvalidForThisTier() with { Name = "invalid" },
        }, CancellationToken.None));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.False(string.IsNullOrEmpty(e.Field));
    }

    [SkippableFact]
    public async Task Delete_AfterExit_IsIdempotent()
    {
        RequireEngine();
        var (driver, handle) = await CreateAsync(EchoAndExit("x", 0));
        handle = await driver.StartAsync(handle, CancellationToken.None);
        await WaitAsync(driver, handle);
        await driver.DeleteAsync(handle, CancellationToken.None);
        await driver.DeleteAsync(handle, CancellationToken.None);
    }

    public void Dispose()
    {
        foreach (var (driver, handle) in _created)
        {
            try
            {
                driver.KillAsync(handle, 9, CancellationToken.None).GetAwaiter().GetResult();
                driver.DeleteAsync(handle, CancellationToken.None).GetAwaiter().GetResult();
            }
            catch (Exception)
            {
                // best effort cleanup of a failed test
            }
            (driver as IDisposable)?.Dispose();
        }
        _temp.Dispose();
        GC.SuppressFinalize(this);
    }
}
