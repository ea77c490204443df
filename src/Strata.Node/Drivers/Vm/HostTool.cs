using System.ComponentModel;
using System.Diagnostics;
using Strata.Contracts;

namespace Strata.Node.Drivers.Vm;

/// <summary>Runs a short host tool (qemu-img, cp, find) to completion and captures its output.</summary>
internal static class HostTool
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static async Task<Result> RunAsync(string file, IEnumerable<string> args, string package, CancellationToken cancellationToken)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        System.Diagnostics.Process process;
        try
        {
            process = System.Diagnostics.Process.Start(psi) ?? throw new StrataException(ErrorKind.Unavailable, $"could not start {file}");
        }
        catch (Win32Exception e)
        {
            throw new StrataException(ErrorKind.Unavailable, $"{file} could not be started ({e.Message}); install it with 'apt-get install {package}'", inner: e);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            try
            {
                await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }
            return new Result(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
        }
    }
}
