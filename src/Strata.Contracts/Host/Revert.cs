namespace Strata.Contracts.Host;

/// <summary>
/// Undo steps for a multi-step operation, run in reverse order unless the operation reaches
/// <see cref="Success"/> (Incus' revert helper). Every step that creates something registers its undo right
/// after it succeeds, so a failure at any later step leaves nothing half-created:
/// <code>
/// await using var revert = new Revert();
/// var dir = CreateDirectory(...);   revert.Add(() => Directory.Delete(dir, true));
/// var tap = await CreateTapAsync(); revert.AddAsync(() => DeleteTapAsync(tap));
/// ...
/// revert.Success();
/// </code>
/// An undo step that throws does not stop the others; its exception goes to the optional callback (for a log line),
/// never to the caller, whose own exception is the one that matters.
/// </summary>
public sealed class Revert : IAsyncDisposable
{
    private readonly List<Func<ValueTask>> _steps = [];
    private readonly Action<Exception>? _onUndoFailure;
    private bool _succeeded;

    public Revert(Action<Exception>? onUndoFailure = null) => _onUndoFailure = onUndoFailure;

    /// <summary>The number of undo steps registered (and not yet run or discarded).</summary>
    public int Count => _steps.Count;

    public void Add(Action undo)
    {
        ArgumentNullException.ThrowIfNull(undo);
        _steps.Add(() =>
        {
            undo();
            return ValueTask.CompletedTask;
        });
    }

    public void AddAsync(Func<Task> undo)
    {
        ArgumentNullException.ThrowIfNull(undo);
        _steps.Add(() => new ValueTask(undo()));
    }

    /// <summary>The operation is complete: the undo steps are discarded.</summary>
    public void Success()
    {
        _succeeded = true;
        _steps.Clear();
    }

    /// <summary>Runs the undo steps now, newest first (also what disposing without <see cref="Success"/> does).</summary>
    public async ValueTask UndoAsync()
    {
        for (var i = _steps.Count - 1; i >= 0; i--)
        {
            try
            {
                await _steps[i]().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                _onUndoFailure?.Invoke(e);
            }
        }
        _steps.Clear();
    }

    public ValueTask DisposeAsync() => _succeeded ? ValueTask.CompletedTask : UndoAsync();
}
