using Strata.Contracts.Host;

namespace Strata.Node.Tests.Host;

public sealed class RevertTests
{
    [Fact]
    public async Task AFailedOperation_UndoesEveryStep_NewestFirst()
    {
        var undone = new List<string>();
        var attempt = async () =>
        {
            await using var revert = new Revert();
            revert.Add(() => undone.Add("directory"));
            revert.AddAsync(async () =>
            {
                await Task.Yield();
                undone.Add("tap");
            });
            revert.Add(() => undone.Add("lease"));
            throw new InvalidOperationException("the start failed");
        };

        var error = await Assert.ThrowsAsync<InvalidOperationException>(attempt);

        Assert.Equal("the start failed", error.Message);
        Assert.Equal(["lease", "tap", "directory"], undone);
    }

    [Fact]
    public async Task ASuccessfulOperation_UndoesNothing()
    {
        var undone = 0;
        await using (var revert = new Revert())
        {
            revert.Add(() => undone++);
            revert.Success();
            Assert.Equal(0, revert.Count);
        }
        Assert.Equal(0, undone);
    }

    [Fact]
    public async Task AnUndoStepThatThrows_DoesNotStopTheOthers_AndIsReported()
    {
        var undone = new List<string>();
        var reported = new List<Exception>();
        await using (var revert = new Revert(reported.Add))
        {
            revert.Add(() => undone.Add("first"));
            revert.Add(() => throw new IOException("busy"));
            revert.Add(() => undone.Add("last"));
        }
        Assert.Equal(["last", "first"], undone);
        Assert.IsType<IOException>(Assert.Single(reported));
    }
}
