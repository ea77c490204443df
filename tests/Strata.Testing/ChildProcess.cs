using System.Diagnostics;

namespace Strata.Testing;

/// <summary>
/// A program run to its end as a child of the test: its exit code, stdout and stderr. At its deadline its whole process
/// tree is killed and a <see cref="TimeoutException"/> names the command, the deadline and what it wrote to stderr.
/// </summary>
public static class ChildProcess
{
    /// <summary>
    /// Runs <paramref name="file"/> with <paramref name="args"/> for at most <paramref name="timeout"/>. Each entry of
    /// <paramref name="environment"/> is set in its environment (a null value removes the variable); <paramref name="stdin"/>,
    /// when given, is its whole input (else it inherits the test's); it runs in <paramref name="workingDirectory"/> when given.
    /// </summary>
    public static (int ExitCode, string Stdout, string Stderr) Run(string file, IEnumerable<string> args, TimeSpan timeout,
        IReadOnlyDictionary<string, string?>? environment = null, string? stdin = null, string? workingDirectory = null)
    {
        var argv = args.ToList();
        var (process, stdout, stderr) = Start(file, argv, environment, stdin, workingDirectory);
        using var p = process;
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw TimedOut(file, argv, timeout, stderr);
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Like <see cref="Run"/>, awaiting the program's end.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string file, IEnumerable<string> args, TimeSpan timeout,
        IReadOnlyDictionary<string, string?>? environment = null, string? stdin = null, string? workingDirectory = null)
    {
        var argv = args.ToList();
        var (process, stdout, stderr) = Start(file, argv, environment, stdin, workingDirectory);
        using var p = process;
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw TimedOut(file, argv, timeout, stderr);
        }
        return (p.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }

    /// <summary>Starts the program, begins reading its stdout and stderr, and gives it its whole input (when there is one).</summary>
    private static (Process Process, Task<string> Stdout, Task<string> Stderr) Start(string file, List<string> args,
        IReadOnlyDictionary<string, string?>? environment, string? stdin, string? workingDirectory)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            WorkingDirectory = workingDirectory ?? "",
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                psi.Environment.Remove(name);
            }
            else
            {
                psi.Environment[name] = value;
            }
        }
        var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        return (p, stdout, stderr);
    }

    private static TimeoutException TimedOut(string file, List<string> args, TimeSpan timeout, Task<string> stderr)
    {
        // The tree is killed, so its stderr ends; a grandchild that escaped it could hold the pipe, so do not wait long.
        var said = stderr.Wait(TimeSpan.FromSeconds(5)) ? stderr.Result.Trim() : "(not read: the pipe is still open)";
        return new TimeoutException($"{Path.GetFileName(file)} {string.Join(' ', args)} did not finish within {timeout}; its stderr: {said}");
    }
}
