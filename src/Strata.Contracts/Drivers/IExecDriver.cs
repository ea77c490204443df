namespace Strata.Contracts.Drivers;

/// <summary>
/// Optional capability: run another command inside a running workload (<c>strata exec</c>).
/// Output is handed to <paramref name="output"/> as it arrives, in order per stream.
/// </summary>
public interface IExecDriver
{
    /// <summary>Runs the command and returns its exit code. Throws Conflict when the workload is not running.</summary>
    Task<int> ExecAsync(DriverHandle handle, ExecRequest request, Func<string, ReadOnlyMemory<byte>, ValueTask> output, CancellationToken cancellationToken);
}

/// <summary>Body of <c>POST /v1/instances/{name}/exec</c>.</summary>
public sealed record ExecRequest
{
    public IReadOnlyList<string> Command { get; init; } = [];
    /// <summary>Added to (and overriding) the workload's environment.</summary>
    public IReadOnlyDictionary<string, string>? Env { get; init; }
    public string? WorkingDir { get; init; }
    /// <summary><c>uid[:gid]</c>; default: the workload's user.</summary>
    public string? User { get; init; }
    /// <summary>Allocate a terminal: only through the attached exec (<see cref="IInteractiveExecDriver"/>); POST /exec refuses it.</summary>
    public bool Tty { get; init; }
}
