using Strata.Contracts.Host;

namespace Strata.Node.Networking;

/// <summary>Runs a host networking tool (ip, iptables, a CNI plugin) through <see cref="HostTool"/>, with optional stdin and environment.</summary>
internal static class HostCommand
{
    internal sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string Error => (Stderr.Trim().Length > 0 ? Stderr : Stdout).Trim();
    }

    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    // Plugins call iptables and ip by name: give them a PATH that has the sbin directories.
    private const string SbinPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public static async Task<Result> RunAsync(string file, IEnumerable<string> args, string? stdin = null, IReadOnlyDictionary<string, string>? env = null, CancellationToken ct = default)
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal) { ["PATH"] = SbinPath };
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            environment[k] = v;
        }
        var result = await HostTool.RunAsync(file, args, new HostToolOptions
        {
            Stdin = stdin,
            Environment = environment,
            Timeout = s_timeout,
            MissingHint = "networking needs iproute2, iptables and containernetworking-plugins",
        }, ct).ConfigureAwait(false);
        return new Result(result.ExitCode, result.Stdout, result.Stderr);
    }

    public static async Task<Result> IpAsync(CancellationToken ct, params string[] args) => await RunAsync("ip", args, ct: ct).ConfigureAwait(false);
}
