using Strata.Contracts;

namespace Strata.Control.Tests;

public sealed class InstanceStateMachineTests
{
    [Theory]
    [InlineData(InstanceState.Created, InstanceState.Running)]
    [InlineData(InstanceState.Running, InstanceState.Stopping)]
    [InlineData(InstanceState.Running, InstanceState.Exited)]
    [InlineData(InstanceState.Stopping, InstanceState.Stopped)]
    [InlineData(InstanceState.Exited, InstanceState.Running)]
    [InlineData(InstanceState.Failed, InstanceState.Deleted)]
    [InlineData(InstanceState.Creating, InstanceState.Failed)]
    public void CanTransition_LegalMoves_AreAllowed(InstanceState from, InstanceState to) =>
        Assert.True(InstanceStateMachine.CanTransition(from, to));

    [Theory]
    [InlineData(InstanceState.Running, InstanceState.Running)]
    [InlineData(InstanceState.Running, InstanceState.Deleted)]
    [InlineData(InstanceState.Deleted, InstanceState.Running)]
    [InlineData(InstanceState.Stopped, InstanceState.Stopping)]
    [InlineData(InstanceState.Pending, InstanceState.Running)]
    public void CanTransition_IllegalMoves_AreRefused(InstanceState from, InstanceState to) =>
        Assert.False(InstanceStateMachine.CanTransition(from, to));

    [Fact]
    public void Deleted_IsTerminal() =>
        Assert.DoesNotContain(InstanceStateMachine.Transitions, t => t.From == InstanceState.Deleted);

    [Fact]
    public void EveryStateCanEventuallyBeDeleted()
    {
        foreach (var state in Enum.GetValues<InstanceState>())
        {
            var seen = new HashSet<InstanceState> { state };
            var frontier = new Queue<InstanceState>([state]);
            while (frontier.TryDequeue(out var s))
            {
                foreach (var (_, to) in InstanceStateMachine.Transitions.Where(t => t.From == s))
                {
                    if (seen.Add(to))
                    {
                        frontier.Enqueue(to);
                    }
                }
            }
            Assert.Contains(InstanceState.Deleted, seen);
        }
    }

    [Fact]
    public void EnsureTransition_Illegal_Is409NamingInstanceAndState()
    {
        var e = Assert.Throws<StrataException>(() => InstanceStateMachine.EnsureTransition("web", InstanceState.Running, InstanceState.Deleted, "remove"));
        Assert.Equal(ErrorKind.Conflict, e.Kind);
        Assert.Contains("'web'", e.Message, StringComparison.Ordinal);
        Assert.Contains("running", e.Message, StringComparison.Ordinal);
        Assert.Contains("--force", e.Message, StringComparison.Ordinal);
    }
}
