using System.Text;
using Microsoft.Extensions.Logging;
using Strata.Client;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Daemon;
using Strata.Testing;

namespace Strata.Container.Tests;

/// <summary>exec -i/-t through the real daemon's attach WebSocket and real runc.</summary>
[Collection(ContainerCollection.Name)]
public sealed class DaemonExecAttachTests(ContainerFixture fx)
{
    [SkippableFact]
    public async Task AttachExec_TtyAndInteractive_RunOnATerminalEchoInputAndReturnExitCodes()
    {
        fx.RequireEngine();
        var socket = Path.Combine(fx.Root, "attach.sock");
        await using var host = await DaemonHost.StartAsync(new DaemonOptions
        {
            Root = Path.Combine(fx.Root, "daemon-attach"),
            Socket = socket,
            Supervisor = fx.Supervisor,
            Images = new Dictionary<string, string> { ["busybox"] = fx.Rootfs },
        }, logging => logging.ClearProviders());
        using var client = new StrataClient(new ClientOptions { Socket = socket });
        await client.CreateAsync(new InstanceSpec
        {
            Tier = "container", Image = "busybox", Name = "box",
            Args = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"],
        });

        // -t: the command's stdin is a terminal of the size asked for.
        var (code, output, _) = await RunAsync(client, new ExecRequest { Command = ["tty"], Tty = true }, null, 100, 30);
        Assert.Equal(0, code);
        Assert.StartsWith("/dev/pts/", output);

        // -i: what is sent comes back, and the end of input ends the command.
        (code, output, _) = await RunAsync(client, new ExecRequest { Command = ["cat"] }, "line one\nline two\n");
        Assert.Equal(0, code);
        Assert.Equal("line one\nline two\n", output);

        // -i keeps stderr apart.
        (code, output, var error) = await RunAsync(client, new ExecRequest { Command = ["sh", "-c", "read x; echo got $x; echo oops >&2"] }, "it\n");
        Assert.Equal(0, code);
        Assert.Equal("got it\n", output);
        Assert.Equal("oops\n", error);

        // Exit codes come back in both modes.
        (code, _, _) = await RunAsync(client, new ExecRequest { Command = ["sh", "-c", "exit 7"] }, "");
        Assert.Equal(7, code);
        (code, _, _) = await RunAsync(client, new ExecRequest { Command = ["sh", "-c", "exit 7"], Tty = true }, null);
        Assert.Equal(7, code);

        // An interactive shell on the terminal: it prompts, runs what is typed, and its exit code comes back.
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        using (var shell = await client.AttachExecAsync("box", new ExecRequest { Command = ["sh"], Tty = true }, 80, 24, timeout.Token))
        {
            var screen = new TerminalScreen();
            var run = shell.RunAsync(null, screen, Stream.Null, timeout.Token);
            await screen.WaitForAsync("# ", timeout.Token);
            // The size asked for at the start, then a resize, reach the command's terminal.
            await screen.TypeUntilAsync(shell, "stty size\r", "24 80", timeout.Token);
            await shell.ResizeAsync(100, 30, timeout.Token);
            await screen.TypeUntilAsync(shell, "stty size\r", "30 100", timeout.Token);
            await shell.SendInputAsync(Encoding.UTF8.GetBytes("echo $((6*7)); exit 3\r"), timeout.Token);
            Assert.Equal(3, await run);
            Assert.Contains("42", screen.Text);
        }

        var missing = await Assert.ThrowsAsync<StrataApiException>(() => client.AttachExecAsync("nope", new ExecRequest { Command = ["sh"], Tty = true }));
        Assert.Equal(ErrorKind.NotFound, missing.Kind);

        await client.DeleteAsync("box", force: true);
    }

    [SkippableFact]
    public async Task AttachExec_TierWithoutIt_RefusedWith400NamingTheContainerTier()
    {
        fx.RequireEngine();
        var socket = Path.Combine(fx.Root, "attach-process.sock");
        await using var host = await DaemonHost.StartAsync(new DaemonOptions
        {
            Root = Path.Combine(fx.Root, "daemon-attach-process"),
            Socket = socket,
            Supervisor = fx.Supervisor,
        }, logging => logging.ClearProviders());
        using var client = new StrataClient(new ClientOptions { Socket = socket });
        await client.CreateAsync(new InstanceSpec { Tier = "process", Name = "plain", Command = ["sleep", "60"] });
        var refused = await Assert.ThrowsAsync<StrataApiException>(() => client.AttachExecAsync("plain", new ExecRequest { Command = ["sh"], Tty = true }));
        Assert.Equal(ErrorKind.InvalidArgument, refused.Kind);
        Assert.Equal(400, refused.Status);
        Assert.Contains("container tier", refused.Message);
        await client.DeleteAsync("plain", force: true);
    }

    private static async Task<(int Code, string Output, string Error)> RunAsync(StrataClient client, ExecRequest request, string? input, ushort columns = 0, ushort rows = 0)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var attachment = await client.AttachExecAsync("box", request, columns, rows, timeout.Token);
        var stdout = new MemoryStream();
        var stderr = new MemoryStream();
        var code = await attachment.RunAsync(input is null ? null : new MemoryStream(Encoding.UTF8.GetBytes(input)), stdout, stderr, timeout.Token);
        return (code, Encoding.UTF8.GetString(stdout.ToArray()), Encoding.UTF8.GetString(stderr.ToArray()));
    }
}
