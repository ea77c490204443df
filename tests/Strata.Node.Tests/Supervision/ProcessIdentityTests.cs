using System.Diagnostics;
using Strata.Contracts.Drivers;
using Strata.Node.Supervision;

namespace Strata.Node.Tests.Supervision;

public sealed class ProcessIdentityTests
{
    [Fact]
    public void TryParseStat_CommandWithSpacesAndParens_ReadsField22()
    {
        var fields = string.Join(' ', Enumerable.Range(4, 19)); // fields 4..22
        var line = $"1234 (a (b) c) d) S {fields} 23 24\n";

        Assert.True(ProcessIdentity.TryParseStat(line, out var ticks, out var state));

        Assert.Equal(22, ticks);
        Assert.Equal('S', state);
    }

    [Fact]
    public void IsAlive_Self_TrueWithOwnStartTicks()
    {
        var pid = Environment.ProcessId;
        var ticks = ProcessIdentity.TryGetStartTicks(pid);

        Assert.NotNull(ticks);
        Assert.True(ProcessIdentity.IsAlive(pid, ticks.Value));
    }

    [Fact]
    public void IsAlive_WrongStartTicks_False()
    {
        // Same PID, other start time: what a recycled PID looks like.
        var pid = Environment.ProcessId;
        var ticks = ProcessIdentity.TryGetStartTicks(pid)!.Value;

        Assert.False(ProcessIdentity.IsAlive(pid, ticks + 1));
        Assert.False(ProcessIdentity.IsAlive(pid, ticks - 1));
    }

    [Fact]
    public async Task IsAlive_ProcessExited_False()
    {
        using var process = Process.Start(new ProcessStartInfo("sleep", "30"))!;
        var ticks = ProcessIdentity.TryGetStartTicks(process.Id)!.Value;
        Assert.True(ProcessIdentity.IsAlive(process.Id, ticks));

        process.Kill();
        await process.WaitForExitAsync();

        Assert.False(ProcessIdentity.IsAlive(process.Id, ticks));
        Assert.Null(ProcessIdentity.TryGetStartTicks(process.Id));
    }

    [Fact]
    public void Name_KnownAndUnknownSignals()
    {
        Assert.Equal("SIGKILL", Signals.Name(9));
        Assert.Equal("SIGTERM", Signals.Name(15));
        Assert.Equal("SIGSYS", Signals.Name(31));
        Assert.Equal("SIGRTMIN+2", Signals.Name(36));
        Assert.Equal("SIG99", Signals.Name(99));
    }

    [Fact]
    public void SendToGroup_NoSuchGroup_False()
    {
        Assert.False(Signals.SendToGroup(int.MaxValue - 7, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Signals.SendToGroup(1, 9));
    }

    [Fact]
    public void ExitFile_WriteThenRead_RoundTripsAndUsesDocumentedShape()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "exit.json");
        var status = new ExitStatus { ExitCode = 137, Reason = "signal: SIGKILL", FinishedAt = new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero), OomKilled = true };

        ExitFile.Write(path, status);

        Assert.Equal(status, ExitFile.TryRead(path));
        Assert.Equal(
            "{\"version\":1,\"exitCode\":137,\"reason\":\"signal: SIGKILL\",\"finishedAt\":\"2026-11-26T12:00:00Z\",\"oomKilled\":true,\"failed\":false}\n",
            File.ReadAllText(path));
        Assert.False(File.Exists(path + ".tmp"));
    }

    [Fact]
    public void ExitFile_MissingOrCorrupt_Null()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "exit.json");
        Assert.Null(ExitFile.TryRead(path));
        File.WriteAllText(path, "{\"version\":1,\"exitCo");
        Assert.Null(ExitFile.TryRead(path));
        File.WriteAllText(path, "{\"version\":99,\"exitCode\":1}");
        Assert.Null(ExitFile.TryRead(path));
    }
}
