using System.Text;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Node.Drivers.Sandbox;
using Strata.Testing;

namespace Strata.Sandbox.Tests;

/// <summary>
/// Two running sandboxes shared by the tests of <see cref="SandboxInteractiveExecTests"/>: one started from the image's
/// template, one booted cold (<c>--no-template</c>).
/// </summary>
public sealed class InteractiveExecFixture : IAsyncLifetime
{
    private readonly TempDirectory _temp = new("strata-ui22-ix");

    public SandboxDriver Driver { get; } = SandboxTestHost.CreateDriver();
    public DriverHandle? FromTemplate { get; private set; }
    public DriverHandle? Cold { get; private set; }

    public async Task InitializeAsync()
    {
        try
        {
            SandboxTestHost.RequireEngine();
        }
        catch (Exception)
        {
            return; // each test says why
        }
        FromTemplate = await StartAsync(new InstanceSpec { Args = ["sleep", "3600"] });
        Cold = await StartAsync(new InstanceSpec { Args = ["sleep", "3600"], NoTemplate = true });
    }

    private async Task<DriverHandle> StartAsync(InstanceSpec spec)
    {
        var handle = await SandboxTestHost.CreateAsync(Driver, _temp, spec with { Tier = "sandbox", Image = "busybox" });
        return await Driver.StartAsync(handle, CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        foreach (var handle in new[] { FromTemplate, Cold })
        {
            if (handle is null)
            {
                continue;
            }
            try
            {
                await Driver.KillAsync(handle, 9, CancellationToken.None);
                await Driver.DeleteAsync(handle, CancellationToken.None);
            }
            catch (StrataException)
            {
            }
        }
        Driver.Dispose();
        _temp.Dispose();
    }
}

/// <summary>exec -i/-t in a sandbox through the driver, with real QEMU: a shell on a terminal in the guest, its size, input on a pipe, exit codes.</summary>
public sealed class SandboxInteractiveExecTests(InteractiveExecFixture fx) : IClassFixture<InteractiveExecFixture>
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(120);

    [SkippableFact]
    public async Task Tty_FromTemplate_ShellEchoesRunsCommandsFollowsResizeAndReturnsItsExitCode()
    {
        SandboxTestHost.RequireEngine();
        Assert.StartsWith("template", fx.FromTemplate!.Data[SandboxDriver.TemplateDataKey], StringComparison.Ordinal);
        using var timeout = new CancellationTokenSource(Budget);
        await using var session = await fx.Driver.StartExecAsync(fx.FromTemplate, new ExecRequest { Command = ["sh"], Tty = true }, 80, 24, timeout.Token);
        Assert.Null(session.Error);
        var screen = new Screen(session.Output);
        await screen.WaitForAsync("# ", timeout.Token);
        // What is typed is echoed by the guest's terminal; the output is on a line of its own.
        await session.Input.WriteAsync("echo hi-$((6*7))\r"u8.ToArray(), timeout.Token);
        await screen.WaitForAsync("\r\nhi-42\r\n", timeout.Token);
        // The size asked for at the start, then a resize, reach the guest's terminal.
        await TypeUntilAsync(session, screen, "stty size\r", "\r\n24 80\r\n", timeout.Token);
        session.Resize(100, 30);
        await TypeUntilAsync(session, screen, "stty size\r", "\r\n30 100\r\n", timeout.Token);
        await session.Input.WriteAsync("tty; echo $TERM\r"u8.ToArray(), timeout.Token);
        await screen.WaitForAsync("/dev/pts/", timeout.Token);
        await screen.WaitForAsync("\r\nxterm\r\n", timeout.Token);
        // Bytes reach the command as typed, 0xFF (the telnet protocol's escape) included.
        // The bytes go once the terminal is raw: the shell says so (raw-42, which the typed line's echo does not show).
        await session.Input.WriteAsync("stty raw -echo; echo raw-$((40+2)); x=$(head -c 2 | od -An -tx1); stty sane; echo got$x\r"u8.ToArray(), timeout.Token);
        await screen.WaitForAsync("raw-42", timeout.Token);
        await session.Input.WriteAsync(new byte[] { 0xFF, 0x41 }, timeout.Token);
        await screen.WaitForAsync("got ff 41", timeout.Token);
        await session.Input.WriteAsync("exit 3\r"u8.ToArray(), timeout.Token);
        Assert.Equal(3, await session.Exited.WaitAsync(timeout.Token));
        await screen.Ended.WaitAsync(timeout.Token);
        Assert.DoesNotContain("\xff", screen.Text, StringComparison.Ordinal); // the telnet option bytes are not shown
        Assert.False(screen.Text.StartsWith("\r\r\n", StringComparison.Ordinal), "telnetd's empty line before the command shows");
    }

    [SkippableFact]
    public async Task Interactive_Pipe_InputReachesTheCommandEndOfInputEndsItStderrStaysApart()
    {
        SandboxTestHost.RequireEngine();
        using var timeout = new CancellationTokenSource(Budget);
        await using var session = await fx.Driver.StartExecAsync(fx.FromTemplate!,
            new ExecRequest { Command = ["sh", "-c", "cat; echo oops >&2; exit 5"] }, 0, 0, timeout.Token);
        var stdout = new Screen(session.Output);
        var stderr = new Screen(session.Error!);
        await session.Input.WriteAsync("line one\r\nline two\n"u8.ToArray(), timeout.Token);
        await stdout.WaitForAsync("line two\n", timeout.Token);
        await session.CloseInputAsync(timeout.Token);
        Assert.Equal(5, await session.Exited.WaitAsync(timeout.Token));
        await stdout.Ended.WaitAsync(timeout.Token);
        await stderr.Ended.WaitAsync(timeout.Token);
        Assert.Equal("line one\r\nline two\n", stdout.Text);
        Assert.Equal("oops\n", stderr.Text);
    }

    [SkippableFact]
    public async Task Tty_ColdBootedSandbox_AndANewDriverObject_RunAShell()
    {
        SandboxTestHost.RequireEngine();
        Assert.StartsWith("cold boot", fx.Cold!.Data[SandboxDriver.TemplateDataKey], StringComparison.Ordinal);
        // A new driver object stands for a restarted daemon: it finds the sandbox running and attaches a terminal.
        using var restarted = SandboxTestHost.CreateDriver();
        Assert.Equal(WorkloadPhase.Running, (await restarted.RecoverAsync(fx.Cold, CancellationToken.None)).Phase);
        using var timeout = new CancellationTokenSource(Budget);
        await using var session = await restarted.StartExecAsync(fx.Cold, new ExecRequest { Command = ["sh"], Tty = true }, 120, 40, timeout.Token);
        var screen = new Screen(session.Output);
        await screen.WaitForAsync("# ", timeout.Token);
        await TypeUntilAsync(session, screen, "stty size\r", "\r\n40 120\r\n", timeout.Token);
        await session.Input.WriteAsync("echo hi\r"u8.ToArray(), timeout.Token);
        await screen.WaitForAsync("\r\nhi\r\n", timeout.Token);
        // ^D (what the end of input types on a terminal) ends the shell with 0.
        await session.CloseInputAsync(timeout.Token);
        Assert.Equal(0, await session.Exited.WaitAsync(timeout.Token));
    }

    [SkippableFact]
    public async Task Dispose_BeforeTheExit_EndsTheCommandInTheGuest()
    {
        SandboxTestHost.RequireEngine();
        using var timeout = new CancellationTokenSource(Budget);
        var session = await fx.Driver.StartExecAsync(fx.FromTemplate!, new ExecRequest { Command = ["sh", "-c", "echo started; exec sleep 4321"], Tty = true }, 80, 24, timeout.Token);
        var screen = new Screen(session.Output);
        await screen.WaitForAsync("started", timeout.Token);
        Assert.Contains("sleep 4321", await PsAsync(timeout.Token));
        await session.DisposeAsync();
        Assert.True(await TestEnvironment.EventuallyAsync(() => !PsAsync(CancellationToken.None).GetAwaiter().GetResult().Contains("sleep 4321", StringComparison.Ordinal), TimeSpan.FromSeconds(30)),
            "the command of a disposed session still runs in the guest");
    }

    [SkippableFact]
    public async Task PlainExec_WhileAShellIsOpen_SharesTheChannel()
    {
        SandboxTestHost.RequireEngine();
        using var timeout = new CancellationTokenSource(Budget);
        await using var session = await fx.Driver.StartExecAsync(fx.FromTemplate!, new ExecRequest { Command = ["sh"], Tty = true }, 80, 24, timeout.Token);
        var screen = new Screen(session.Output);
        await screen.WaitForAsync("# ", timeout.Token);
        // The plain exec and the terminal take turns on QEMU's one connection, neither waiting for the other to end.
        var output = new StringBuilder();
        var code = await fx.Driver.ExecAsync(fx.FromTemplate!, new ExecRequest { Command = ["sh", "-c", "echo beside; exit 2"] },
            (_, b) => { output.Append(Encoding.UTF8.GetString(b.Span)); return ValueTask.CompletedTask; }, timeout.Token);
        Assert.Equal(2, code);
        Assert.Equal("beside\n", output.ToString());
        await session.Input.WriteAsync("echo still-here\r"u8.ToArray(), timeout.Token);
        await screen.WaitForAsync("\r\nstill-here\r\n", timeout.Token);
    }

    private async Task<string> PsAsync(CancellationToken ct)
    {
        var output = new StringBuilder();
        await fx.Driver.ExecAsync(fx.FromTemplate!, new ExecRequest { Command = ["ps", "-o", "args"] },
            (_, b) => { output.Append(Encoding.UTF8.GetString(b.Span)); return ValueTask.CompletedTask; }, ct);
        return output.ToString();
    }

    /// <summary>Types <paramref name="keys"/> until <paramref name="expected"/> shows (a resize reaches the guest asynchronously).</summary>
    private static async Task TypeUntilAsync(ExecSession session, Screen screen, string keys, string expected, CancellationToken ct)
    {
        while (true)
        {
            await session.Input.WriteAsync(Encoding.UTF8.GetBytes(keys), ct);
            try
            {
                await screen.WaitForAsync(expected, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(3), ct);
                return;
            }
            catch (TimeoutException)
            {
            }
        }
    }

    /// <summary>Reads a stream to its end, keeping the text (Latin-1, byte for byte) to wait on.</summary>
    private sealed class Screen
    {
        private readonly StringBuilder _text = new();
        private readonly List<(string Needle, TaskCompletionSource Seen)> _waiters = [];

        public Screen(Stream stream) => Ended = PumpAsync(stream);

        public Task Ended { get; }

        public string Text
        {
            get
            {
                lock (_text)
                {
                    return _text.ToString();
                }
            }
        }

        private async Task PumpAsync(Stream stream)
        {
            var buffer = new byte[4096];
            int n;
            while ((n = await stream.ReadAsync(buffer)) > 0)
            {
                lock (_text)
                {
                    _text.Append(Encoding.Latin1.GetString(buffer, 0, n));
                    var text = _text.ToString();
                    foreach (var w in _waiters.Where(w => text.Contains(w.Needle, StringComparison.Ordinal)).ToList())
                    {
                        w.Seen.TrySetResult();
                        _waiters.Remove(w);
                    }
                }
            }
        }

        public Task WaitForAsync(string needle, CancellationToken ct)
        {
            lock (_text)
            {
                if (_text.ToString().Contains(needle, StringComparison.Ordinal))
                {
                    return Task.CompletedTask;
                }
                var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiters.Add((needle, seen));
                return seen.Task.WaitAsync(ct);
            }
        }
    }
}
