using Strata.Contracts;
using Strata.Contracts.Host;

namespace Strata.Node.Tests.Host;

public sealed class HostToolTests
{
    [Fact]
    public async Task RunAsync_PassesArgvVerbatim_AndCapturesBothStreams()
    {
        var result = await HostTool.RunAsync("/bin/sh", ["-c", "printf '%s|' \"$@\"; echo oops >&2", "sh", "a b", "$HOME", "*"]);

        Assert.True(result.Succeeded);
        Assert.Equal("a b|$HOME|*|", result.Stdout);
        Assert.Equal("oops\n", result.Stderr);
    }

    [Fact]
    public async Task RunAsync_FeedsStdin_AndSetsTheEnvironment()
    {
        var result = await HostTool.RunAsync("/bin/sh", ["-c", "cat; printf %s \"$STRATA_TOOL_TEST\""], new HostToolOptions
        {
            Stdin = "from stdin\n",
            Environment = new Dictionary<string, string> { ["STRATA_TOOL_TEST"] = "from env" },
        });

        Assert.Equal("from stdin\nfrom env", result.Stdout);
    }

    [Fact]
    public async Task EnsureSuccess_OnAFailedRun_NamesTheToolItsArgsItsCodeAndItsStderr()
    {
        var result = await HostTool.RunAsync("/bin/sh", ["-c", "echo 'no such device' >&2; exit 3"]);

        Assert.False(result.Succeeded);
        var error = Assert.Throws<StrataException>(() => result.EnsureSuccess());
        Assert.Equal(ErrorKind.Internal, error.Kind);
        Assert.Contains("sh -c", error.Message, StringComparison.Ordinal);
        Assert.Contains("exited with 3: no such device", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_AMissingTool_IsUnavailable_AndSaysWhatToInstall()
    {
        var error = await Assert.ThrowsAsync<StrataException>(() => HostTool.RunAsync("/nonexistent/strata-no-such-tool", [],
            new HostToolOptions { MissingHint = "install it with 'apt-get install strata-tool'" }));

        Assert.Equal(ErrorKind.Unavailable, error.Kind);
        Assert.Contains("/nonexistent/strata-no-such-tool could not be run", error.Message, StringComparison.Ordinal);
        Assert.EndsWith("; install it with 'apt-get install strata-tool'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_PastItsTimeout_KillsTheTool_AndNamesIt()
    {
        // The timeout is what is tested: the tool would run for a minute, the run ends after a fifth of a second.
        var error = await Assert.ThrowsAsync<StrataException>(() => HostTool.RunAsync("/bin/sh", ["-c", "exec sleep 60"],
            new HostToolOptions { Timeout = TimeSpan.FromMilliseconds(200) }));

        Assert.Contains("sh -c exec sleep 60 did not finish within 0.2 s", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_WhenTheCallerCancels_KillsTheTool_AndIsCancelled()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => HostTool.RunAsync("/bin/sh", ["-c", "exec sleep 60"], cancellationToken: cancel.Token));
    }
}
