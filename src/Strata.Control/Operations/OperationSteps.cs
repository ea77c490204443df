using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Control.Operations;

/// <summary>
/// Turns a create's steps (<see cref="CreateStep"/>) into the operation's progress: one <c>step</c> item per step,
/// <c>running</c> while it is the current one and <c>done</c> once the next one begins (or the work ends), each
/// update forwarded to watchers; the operation's message is the current step in words. Reported synchronously, so
/// watchers see the steps in the order they happened.
/// </summary>
public sealed class OperationSteps(Operation operation) : IProgress<CreateStep>
{
    public const string ItemKind = "step";
    public const string Running = "running";
    public const string Done = "done";

    private readonly Lock _lock = new();
    private ProgressItem? _current;

    public void Report(CreateStep step)
    {
        lock (_lock)
        {
            if (_current is { } previous && previous.Id != step.Id)
            {
                operation.Report(previous with { Phase = Done }, always: true);
            }
            _current = new ProgressItem(step.Id, ItemKind, Running, step.Current, step.Total) { Message = step.Message };
            operation.SetMessage(step.Message);
            operation.Report(_current, always: true);
        }
    }

    /// <summary>The work has ended well: the last step is done too, and the message says what came of it.</summary>
    public void Complete(string message)
    {
        lock (_lock)
        {
            if (_current is { } last)
            {
                operation.Report(last with { Phase = Done }, always: true);
                _current = null;
            }
            operation.SetMessage(message);
        }
    }
}
