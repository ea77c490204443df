using System.Text.Json;
using System.Text.Json.Nodes;
using Strata.Contracts;

namespace Strata.Node.Networking;

/// <summary>
/// Runs a chain of CNI plugins the way a CNI 1.0 runtime does: ADD through the plugins in order, each given
/// the previous one's result as <c>prevResult</c>; DEL in reverse order with the cached ADD result.
/// The plugin binaries are invoked directly (CNI_* environment, network configuration on stdin).
/// </summary>
internal sealed class CniChain(string pluginDirectory, string networkName, IReadOnlyList<JsonObject> plugins, string interfaceName = "eth0")
{
    public const string Version = "1.0.0";

    /// <returns>The final result as JSON text.</returns>
    public async Task<string> AddAsync(string containerId, string netnsPath, CancellationToken ct, JsonNode? prevResult = null)
    {
        var previous = prevResult;
        foreach (var plugin in plugins)
        {
            var output = await InvokeAsync("ADD", plugin, previous, containerId, netnsPath, ct).ConfigureAwait(false);
            previous = JsonNode.Parse(output);
            // A step of the run's timeline (Strata.Control.RunTimeline), e.g. "cni bridge" (with its IPAM and NAT rules).
            System.Diagnostics.Activity.Current?.AddEvent(new System.Diagnostics.ActivityEvent("cni " + (string)plugin["type"]!));
        }
        return previous?.ToJsonString() ?? "{}";
    }

    /// <summary>Best effort over every plugin: one failing DEL does not stop the others. Returns the errors.</summary>
    public async Task<IReadOnlyList<string>> DeleteAsync(string containerId, string netnsPath, string? cachedResult, CancellationToken ct)
    {
        var errors = new List<string>();
        var previous = cachedResult is null ? null : JsonNode.Parse(cachedResult);
        for (var i = plugins.Count - 1; i >= 0; i--)
        {
            try
            {
                await InvokeAsync("DEL", plugins[i], previous, containerId, netnsPath, ct).ConfigureAwait(false);
            }
            catch (StrataException e)
            {
                errors.Add(e.Message);
            }
        }
        return errors;
    }

    private async Task<string> InvokeAsync(string command, JsonObject plugin, JsonNode? previous, string containerId, string netnsPath, CancellationToken ct)
    {
        var config = (JsonObject)plugin.DeepClone();
        config["cniVersion"] = Version;
        config["name"] = networkName;
        if (previous is not null)
        {
            config["prevResult"] = previous.DeepClone();
        }
        var type = (string)plugin["type"]!;
        var binary = Path.Combine(pluginDirectory, type);
        if (!File.Exists(binary))
        {
            throw new StrataException(ErrorKind.Unavailable, $"the CNI plugin '{type}' is missing from {pluginDirectory}; install containernetworking-plugins");
        }
        var env = new Dictionary<string, string>
        {
            ["CNI_COMMAND"] = command,
            ["CNI_CONTAINERID"] = containerId,
            // DEL of an already deleted namespace is allowed to pass an empty path; the plugins then skip it.
            ["CNI_NETNS"] = command == "DEL" && !File.Exists(netnsPath) ? "" : netnsPath,
            ["CNI_IFNAME"] = interfaceName,
            ["CNI_PATH"] = pluginDirectory,
        };
        var r = await HostCommand.RunAsync(binary, [], config.ToJsonString(), env, ct).ConfigureAwait(false);
        if (r.ExitCode != 0)
        {
            var message = r.Error;
            try
            {
                if (JsonSerializer.Deserialize(r.Stdout, NetworkJsonContext.Default.CniError) is { } error)
                {
                    message = error.Details is { Length: > 0 } d ? $"{error.Msg}: {d}" : error.Msg ?? message;
                }
            }
            catch (JsonException)
            {
                // not a CNI error document: keep the raw output
            }
            throw new StrataException(ErrorKind.Internal, $"CNI {type} {command} failed: {message}");
        }
        return r.Stdout;
    }
}
