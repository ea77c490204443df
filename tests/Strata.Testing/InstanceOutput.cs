using System.Text;
using Strata.Client;
using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Testing;

/// <summary>What an instance printed, and commands run in it, through the API.</summary>
public static class InstanceOutput
{
    /// <summary>The instance's whole log as one trimmed text.</summary>
    public static async Task<string> LogTextAsync(StrataClient client, string name)
    {
        var text = new StringBuilder();
        await foreach (var frame in client.LogsAsync(name))
        {
            text.Append(frame.Log?.Text);
        }
        return text.ToString().Trim();
    }

    /// <summary>Runs <c>sh -c script</c> in a running instance (retrying while its workload is still starting): exit code and trimmed output.</summary>
    public static async Task<(int? Code, string Output)> ExecAsync(StrataClient client, string name, string script)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                var output = new StringBuilder();
                int? code = null;
                await foreach (var frame in client.ExecAsync(name, new ExecRequest { Command = ["sh", "-c", script] }))
                {
                    output.Append(frame.Log?.Text);
                    code = frame.Exit?.ExitCode ?? code;
                }
                return (code, output.ToString().Trim());
            }
            catch (StrataApiException e) when (e.Kind == ErrorKind.Conflict && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50); // the workload is still starting
            }
        }
    }
}
