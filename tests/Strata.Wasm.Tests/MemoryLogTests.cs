using System.Text;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Drivers.Wasm;
using Strata.Node.Logs;
using Xunit;

namespace Strata.Wasm.Tests;

public sealed class MemoryLogTests
{
    private static void Write(MemoryLog log, string stream, string text) => log.Write(stream, Encoding.UTF8.GetBytes(text));

    [Fact]
    public void Write_LinesAcrossWrites_OneRecordPerLineAndEndOfStreamFlushesPartial()
    {
        var log = new MemoryLog(1024 * 1024, TimeProvider.System);
        Write(log, "stdout", "a\nb");
        Write(log, "stderr", "e\n");
        Write(log, "stdout", "c\nd");
        log.EndOfStream("stdout");
        log.EndOfStream("stderr");

        var records = log.ReadTail(null);
        Assert.Equal(["stdout a F", "stderr e F", "stdout bc F", "stdout d P"], records.Select(r => $"{r.Stream} {r.Text} {(r.Partial ? "P" : "F")}"));
        Assert.Equal(4, log.End);
        Assert.Equal(["bc", "d"], log.ReadTail(2).Select(r => r.Text));
    }

    [Fact]
    public void Write_LineLongerThanMaxLine_SplitIntoPartialPieces()
    {
        var log = new MemoryLog(1024 * 1024, TimeProvider.System);
        Write(log, "stdout", new string('x', 40 * 1024) + "\n");

        var records = log.ReadTail(null);
        Assert.Equal([CriLogWriter.MaxLineBytes, CriLogWriter.MaxLineBytes, 8 * 1024], records.Select(r => r.Text.Length));
        Assert.Equal([true, true, false], records.Select(r => r.Partial));
    }

    [Fact]
    public void Write_PastTheCap_DropsOldestAndKeepsNewestWithinTwiceTheLimit()
    {
        var log = new MemoryLog(1000, TimeProvider.System);
        for (var i = 0; i < 500; i++)
        {
            Write(log, "stdout", $"line {i:D5} {new string('.', 30)}\n");
        }

        var kept = log.ReadTail(null);
        Assert.True(log.DroppedRecords > 0);
        Assert.Equal(500, log.End);
        Assert.Equal(500 - log.DroppedRecords, kept.Count);
        Assert.StartsWith("line 00499", kept[^1].Text);
        Assert.StartsWith($"line {log.DroppedRecords:D5}", kept[0].Text);
        Assert.True(kept.Sum(r => r.Text.Length + 40) <= 2 * 1000, "kept output exceeds twice the limit");
    }

    [Fact]
    public async Task WaitAsync_NothingNew_CompletesWhenALineIsWritten()
    {
        var log = new MemoryLog(1024, TimeProvider.System);
        long position = 0;
        var wait = log.WaitAsync(position);
        Assert.False(wait.IsCompleted);
        Write(log, "stdout", "partial");
        Assert.False(wait.IsCompleted); // no complete line yet
        Write(log, "stdout", " line\n");
        await wait.WaitAsync(TimeSpan.FromSeconds(10));

        var batch = new List<LogRecord>();
        log.Read(ref position, batch);
        Assert.Equal("partial line", Assert.Single(batch).Text);
        Assert.Equal(1, position);
        Assert.True(log.WaitAsync(0).IsCompleted);
    }
}

public sealed class WasmEphemeralRunTests : IDisposable
{
    private readonly WasmTestHost _host = new();

    public void Dispose() => _host.Dispose();

    private async Task<(DriverHandle Handle, ExitStatus Exit)> RunAutoRemovedAsync(WasmDriver driver, string module)
    {
        var id = Guid.NewGuid().ToString("N");
        // The control plane creates no directory for an auto-removed wasm instance: neither may the driver.
        var dir = Path.Combine(_host.Root, "instances", id);
        var handle = await driver.CreateAsync(new CreateRequest
        {
            InstanceId = id,
            Name = "e" + id[..6],
            Project = "default",
            Directory = dir,
            Spec = new InstanceSpec { Tier = "wasm", Image = module, AutoRemove = true },
        }, CancellationToken.None);
        await driver.StartAsync(handle, CancellationToken.None);
        var exit = await driver.WaitAsync(handle, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.False(Directory.Exists(dir), "an auto-removed run wrote into its instance directory");
        return (handle, exit);
    }

    [Fact]
    public async Task Run_AutoRemove_OutputInMemoryAndNothingOnDisk()
    {
        var (handle, exit) = await RunAutoRemovedAsync(_host.Driver, _host.WriteFile("print.wat", Wat.PrintAndExit3));

        Assert.Equal(3, exit.ExitCode);
        var log = _host.Driver.FindLog(handle.InstanceId);
        Assert.NotNull(log);
        Assert.Equal(["stdout hello F", "stderr err F", "stdout world P"],
            log.ReadTail(null).Select(r => $"{r.Stream} {r.Text} {(r.Partial ? "P" : "F")}"));

        await _host.Driver.DeleteAsync(handle, CancellationToken.None);
        Assert.Null(_host.Driver.FindLog(handle.InstanceId));
    }

    [Fact]
    public async Task Run_AutoRemoveOutputPastTheCap_KeepsAtMostTwiceTheLimit()
    {
        using var driver = new WasmDriver(new WasmDriverOptions { CacheDirectory = Path.Combine(_host.Root, "cache"), LogMaxBytes = 4096 }, TimeProvider.System);
        var (handle, exit) = await RunAutoRemovedAsync(driver, _host.WriteFile("many.wat", Wat.ManyLines));

        Assert.Equal(0, exit.ExitCode);
        var log = driver.FindLog(handle.InstanceId)!;
        var kept = log.ReadTail(null);
        Assert.Equal(5000, log.End);
        Assert.True(log.DroppedRecords > 4000, $"dropped only {log.DroppedRecords}");
        Assert.Equal(5000 - log.DroppedRecords, kept.Count);
        Assert.All(kept, r => Assert.Equal("0123456789", r.Text));
        Assert.True(kept.Sum(r => r.Text.Length + 40) <= 2 * 4096);
    }

    [Fact]
    public async Task Run_NotAutoRemoved_OutputInCriLogFile()
    {
        var (exit, stdout, stderr) = await _host.RunAsync(new InstanceSpec { Image = _host.WriteFile("print.wat", Wat.PrintAndExit3) });

        Assert.Equal(3, exit.ExitCode);
        Assert.Equal("hello\nworld", stdout);
        Assert.Equal("err\n", stderr);
    }

    [Fact]
    public async Task Run_Sequential_ReusesTheRunThread()
    {
        var module = _host.WriteFile("exit0.wat", Wat.Exit0);
        for (var i = 0; i < 5; i++)
        {
            // A finished run's thread parks itself just after reporting the exit: wait for that, then run again.
            await Poll.UntilAsync(() => _host.Driver.IdleThreads == Math.Min(i, 1), TimeSpan.FromSeconds(10), "the run thread to be idle");
            var (_, exit) = await RunAutoRemovedAsync(_host.Driver, module);
            Assert.Equal(0, exit.ExitCode);
        }
        Assert.Equal(1, _host.Driver.ThreadsStarted);
    }
}
