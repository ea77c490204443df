using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;

namespace Strata.Contracts.Host;

/// <summary>How to run one host tool: what to feed it, what to add to its environment, how long it may take.</summary>
public sealed record HostToolOptions
{
    /// <summary>Written to the tool's standard input, which is then closed (it is closed at once when null).</summary>
    public string? Stdin { get; init; }

    /// <summary>Set in the tool's environment, over what the daemon's own environment has.</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    /// <summary>The tool is killed, and the run fails naming it, when it takes longer. Null: no limit but the caller's token.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>What to install when the tool cannot be run at all, e.g. <c>install it with 'apt-get install qemu-utils'</c>.</summary>
    public string? MissingHint { get; init; }
}

/// <summary>What a host tool did: its exit code and everything it wrote.</summary>
public sealed record HostToolResult(string Tool, IReadOnlyList<string> Args, int ExitCode, string Stdout, string Stderr)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>What the tool said about its failure: its stderr, or its stdout when stderr is empty, trimmed.</summary>
    public string Error => (Stderr.Trim().Length > 0 ? Stderr : Stdout).Trim();

    /// <summary>This result when the tool exited 0; otherwise an error naming the tool, its arguments, its exit code and what it said.</summary>
    public HostToolResult EnsureSuccess(ErrorKind kind = ErrorKind.Internal) => Succeeded ? this
        : throw new StrataException(kind, string.Create(CultureInfo.InvariantCulture,
            $"{Path.GetFileName(Tool)} {string.Join(' ', Args)} exited with {ExitCode}: {(Error.Length > 0 ? Error : "(no output)")}"));
}

/// <summary>
/// Runs a short-lived host tool (ip, iptables, a CNI plugin, qemu-img, mkfs.ext4, busybox) with an argv (never a
/// shell line), captures its output and waits for it. A tool that cannot be started, or that outlives its timeout
/// (it is killed with its children), is a <see cref="StrataException"/> naming the tool; a non-zero exit is a
/// result (<see cref="HostToolResult.EnsureSuccess"/> turns it into an error). A cancelled caller kills the tool too.
/// </summary>
public static class HostTool
{
    public static async Task<HostToolResult> RunAsync(string file, IEnumerable<string> args, HostToolOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new HostToolOptions();
        var argv = args.ToList();
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in argv)
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var (name, value) in options.Environment ?? new Dictionary<string, string>())
        {
            psi.Environment[name] = value;
        }
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new StrataException(ErrorKind.Unavailable, $"could not start {file}");
        }
        catch (Win32Exception e)
        {
            throw new StrataException(ErrorKind.Unavailable,
                $"{file} could not be run ({e.Message}){(options.MissingHint is { } hint ? "; " + hint : "")}", inner: e);
        }
        using (process)
        {
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (options.Timeout is { } timeout)
            {
                limit.CancelAfter(timeout);
            }
            // Read both pipes from the start, so a tool that writes much never blocks on a full pipe.
            var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
            var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
            try
            {
                if (options.Stdin is not null)
                {
                    await process.StandardInput.WriteAsync(options.Stdin.AsMemory(), limit.Token).ConfigureAwait(false);
                }
                process.StandardInput.Close();
                await process.WaitForExitAsync(limit.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                if (cancellationToken.IsCancellationRequested)
                {
                    throw;
                }
                throw new StrataException(ErrorKind.Internal, string.Create(CultureInfo.InvariantCulture,
                    $"{Path.GetFileName(file)} {string.Join(' ', argv)} did not finish within {options.Timeout!.Value.TotalSeconds:0.###} s"));
            }
            return new HostToolResult(file, argv, process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
        }
    }
}
