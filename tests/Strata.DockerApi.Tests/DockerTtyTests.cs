using System.Diagnostics;
using System.Net;
using Strata.Testing;

namespace Strata.DockerApi.Tests;

/// <summary>
/// The main process on a terminal (<c>docker run -t</c>, <c>-it</c>, <c>create -t</c> + <c>start -a -i</c>) and with
/// input (<c>-i</c>), with both docker CLIs: the raw stream, input typed on a host terminal (<c>script</c>), the
/// terminal's size, logs of a terminal, and another project seeing none of it.
/// </summary>
[Collection(DockerCollection.Name)]
public sealed class DockerTtyTests(DockerFixture fx)
{
    public static TheoryData<string> Clis => ["/usr/local/bin/docker", "/usr/bin/docker"];

    private void RequireCli(string cli)
    {
        fx.RequireEngine();
        Assert.False(!File.Exists(cli) && TestEnvironment.IsCi, $"{cli} is not installed (scripts/deps/docker-api.txt)");
        Skip.If(!File.Exists(cli), $"{cli} is not installed here");
        TestEnvironment.Require(TestEnvironment.Which("script") is not null, "script (util-linux) is missing");
    }

    private static string Tag(string cli) => cli.Contains("local", StringComparison.Ordinal) ? "n" : "d";

    [SkippableTheory]
    [MemberData(nameof(Clis))]
    public async Task RunT_PrintsATerminal_AsOneRawStream(string cli)
    {
        RequireCli(cli);
        var (code, stdout, stderr) = await fx.RunAsync("run -t --rm busybox sh -c 'tty; echo ok; echo err >&2; exit 4'", docker: cli);
        Assert.Equal(4, code);
        Assert.Matches(@"^/dev/pts/\d+\r\nok\r\nerr\r\n$", stdout); // the terminal's CR LF; stderr is the same stream
        Assert.DoesNotContain("err", stderr);
    }

    [SkippableTheory]
    [MemberData(nameof(Clis))]
    public async Task RunIt_OnAHostTerminal_RunsTypedCommands_AndHasTheTerminalsSize(string cli)
    {
        RequireCli(cli);
        // Typed into a shell in the container: only the shell's answer has 42 in it, not the echo of what was typed.
        var shell = await OnTerminalAsync(cli, "stty cols 91 rows 27; {docker} run -it --rm busybox sh", "echo hi-$((6*7))\nexit 3\n");
        Assert.Equal(3, shell.Code);
        Assert.Contains("hi-42", shell.Out);
        // The client's terminal size reaches the container's terminal (at create, and by resize after the start).
        var size = await OnTerminalAsync(cli, "stty cols 91 rows 27; {docker} run -it --rm busybox sh -c 'sleep 1; stty size'", "");
        Assert.Equal(0, size.Code);
        Assert.Contains("27 91", size.Out);
        if (cli.Contains("local", StringComparison.Ordinal))
        {
            // The 28.x CLI sends its size with the create (HostConfig.ConsoleSize): right from the first instruction.
            var atOnce = await OnTerminalAsync(cli, "stty cols 93 rows 29; {docker} run -it --rm busybox stty size", "");
            Assert.Contains("29 93", atOnce.Out);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Clis))]
    public async Task CreateT_StartAttachInput_LogsAreTheRawTerminal_AndResize(string cli)
    {
        RequireCli(cli);
        var name = fx.Name("ctty" + Tag(cli));
        var piped = fx.Name("cin" + Tag(cli));
        try
        {
            await fx.OkAsync($"create -t --name {name} busybox sh -c 'tty; echo created-ok'", docker: cli);
            Assert.Equal("true", (await fx.OkAsync($"inspect -f '{{{{.Config.Tty}}}}' {name}", docker: cli)).Trim());
            var started = await fx.OkAsync($"start -a {name}", docker: cli);
            Assert.Matches(@"^/dev/pts/\d+\r\ncreated-ok\r\n$", started);
            Assert.Equal(started, await fx.OkAsync($"logs {name}", docker: cli));

            // -i without -t: the input is a pipe, and its end is the container's end of input.
            await fx.OkAsync($"create -i --name {piped} busybox sh -c 'cat; echo after-eof'", docker: cli);
            Assert.Equal("line one\nline two\nafter-eof\n", await fx.OkAsync($"start -a -i {piped}", input: "line one\nline two\n", docker: cli));
            Assert.Equal("from run -i\n", await fx.OkAsync("run -i --rm busybox cat", input: "from run -i\n", docker: cli));
        }
        finally
        {
            await fx.RunAsync($"rm -f {name} {piped}");
        }
    }

    [SkippableFact]
    public async Task Resize_ReachesTheRunningTerminal_AndAnotherProjectSeesNothing()
    {
        fx.RequireEngine();
        var name = fx.Name("resize");
        await fx.OkAsync($"run -d -t --name {name} busybox sh -c 'while true; do stty size; sleep 0.2; done'");
        try
        {
            using var http = fx.Http();
            using (var resized = await http.PostAsync($"/containers/{name}/resize?h=33&w=111", null))
            {
                Assert.Equal(HttpStatusCode.OK, resized.StatusCode);
            }
            var logs = "";
            Assert.True(await TestEnvironment.EventuallyAsync(() =>
            {
                logs = fx.OkAsync($"logs {name}").GetAwaiter().GetResult();
                return logs.Contains("33 111\r\n", StringComparison.Ordinal);
            }, TimeSpan.FromSeconds(20)), logs);

            using var tenant = fx.Http(fx.TenantSocket);
            using (var other = await tenant.PostAsync($"/containers/{name}/resize?h=5&w=5", null))
            {
                Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
            }
            var (code, _, err) = await fx.RunAsync($"attach {name}", fx.TenantSocket, timeout: TimeSpan.FromSeconds(30));
            Assert.NotEqual(0, code);
            Assert.Contains("No such container", err);
            await Task.Delay(500);
            Assert.DoesNotContain("5 5\r\n", await fx.OkAsync($"logs {name}"));
        }
        finally
        {
            await fx.RunAsync($"rm -f {name}");
        }
    }

    /// <summary>Runs a shell command line on a new terminal (util-linux script), typing <paramref name="input"/> into it.</summary>
    private async Task<(int Code, string Out)> OnTerminalAsync(string cli, string commandLine, string input)
    {
        var info = new ProcessStartInfo("script")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "-qec", commandLine.Replace("{docker}", cli, StringComparison.Ordinal), "/dev/null" })
        {
            info.ArgumentList.Add(a);
        }
        info.Environment["DOCKER_HOST"] = "unix://" + fx.DockerSocket;
        info.Environment["DOCKER_CONFIG"] = fx.ConfigDirectory;
        info.Environment.Remove("DOCKER_CONTEXT");
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        // Typed once the container's shell is up (what was typed before would reach it too, but echoed twice).
        await Task.Delay(input.Length > 0 ? 1500 : 0);
        await process.StandardInput.WriteAsync(input);
        await process.StandardInput.FlushAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{commandLine} did not finish; output so far: {await stdout} {await stderr}");
        }
        process.StandardInput.Close();
        return (process.ExitCode, await stdout + await stderr);
    }
}
