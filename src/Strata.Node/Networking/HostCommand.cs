using System.ComponentModel;
using System.Diagnostics;
using Strata.Contracts;

namespace Strata.Node.Networking;

/// <summary>Runs a host networking tool (ip, iptables, a CNI plugin) with optional stdin and environment.</summary>
internal static class HostCommand
{
    internal sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string Error => (Stderr.Trim().Length > 0 ? Stderr : Stdout).Trim();
    }

    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    public static async Task<Result> RunAsync(string file, IEnumerable<string> args, string? stdin = null, IReadOnlyDictionary<string, string>? env = null, CancellationToken ct = default)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        // Plugins call iptables and ip by name: give them a PATH that has the sbin directories.
        psi.Environment["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new StrataException(ErrorKind.Unavailable, $"could not start {file}");
        }
        catch (Win32Exception e)
        {
            throw new StrataException(ErrorKind.Unavailable, $"{file} could not be run ({e.Message}); networking needs iproute2, iptables and containernetworking-plugins", inner: e);
        }
        using (process)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(s_timeout);
            var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
            var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
            if (stdin is not null)
            {
                await process.StandardInput.WriteAsync(stdin).ConfigureAwait(false);
            }
            process.StandardInput.Close();
            try
            {
                await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new StrataException(ErrorKind.Internal, $"{Path.GetFileName(file)} {string.Join(' ', args)} did not finish within {s_timeout.TotalSeconds:0} s");
            }
            return new Result(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
        }
    }

    public static async Task<Result> IpAsync(CancellationToken ct, params string[] args) => await RunAsync("ip", args, ct: ct).ConfigureAwait(false);
}
