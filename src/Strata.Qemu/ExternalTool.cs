using Strata.Contracts.Host;

namespace Strata.Qemu;

/// <summary>Runs a short-lived host tool (qemu-img, mkfs.ext4, qemu --version) through <see cref="HostTool"/> and captures its output.</summary>
public static class ExternalTool
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static async Task<Result> RunAsync(string file, IEnumerable<string> args, string package, CancellationToken cancellationToken)
    {
        var result = await HostTool.RunAsync(file, args, new HostToolOptions { MissingHint = $"install it with 'apt-get install {package}'" },
            cancellationToken).ConfigureAwait(false);
        return new Result(result.ExitCode, result.Stdout, result.Stderr);
    }
}
