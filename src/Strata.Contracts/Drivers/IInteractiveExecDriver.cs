namespace Strata.Contracts.Drivers;

/// <summary>
/// Optional capability: exec attached to the caller's input, with or without a terminal
/// (<c>strata exec -i/-t</c>, <c>GET /v1/instances/{name}/exec/attach</c>).
/// </summary>
public interface IInteractiveExecDriver
{
    /// <summary>
    /// Starts <paramref name="request"/>'s command with its stdin open; with <see cref="ExecRequest.Tty"/> it runs on a
    /// terminal of <paramref name="columns"/> x <paramref name="rows"/> (0 = the runtime's default). Throws Conflict when
    /// the workload is not running.
    /// </summary>
    Task<ExecSession> StartExecAsync(DriverHandle handle, ExecRequest request, ushort columns, ushort rows, CancellationToken cancellationToken);
}

/// <summary>A running interactive exec. Disposing it before it exited ends the command.</summary>
public abstract class ExecSession : IAsyncDisposable
{
    /// <summary>The command's stdin (with a terminal: the terminal's input).</summary>
    public abstract Stream Input { get; }

    /// <summary>The command's stdout (with a terminal: everything the terminal shows).</summary>
    public abstract Stream Output { get; }

    /// <summary>The command's stderr; null with a terminal, where it is part of <see cref="Output"/>.</summary>
    public abstract Stream? Error { get; }

    /// <summary>Completes with the command's exit code.</summary>
    public abstract Task<int> Exited { get; }

    /// <summary>End of input: closes stdin (with a terminal: sends the EOF character, ^D).</summary>
    public abstract ValueTask CloseInputAsync(CancellationToken cancellationToken);

    /// <summary>Changes the terminal's size; ignored without a terminal.</summary>
    public abstract void Resize(ushort columns, ushort rows);

    public abstract ValueTask DisposeAsync();
}
