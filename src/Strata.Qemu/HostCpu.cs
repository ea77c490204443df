using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Strata.Contracts;
using Strata.Contracts.Host;

namespace Strata.Qemu;

/// <summary>The host CPU as <c>/proc/cpuinfo</c> shows it: vendor, model name and a digest of the feature flags.</summary>
public sealed record HostCpuInfo(string? Vendor, string? ModelName, string? FlagsSha256);

/// <summary>
/// What a host's CPU is and which QEMU named models it runs (docs/cluster.md "CPU baseline"): read once at a cluster
/// node's start. Under KVM a model is usable when <c>query-cpu-definitions</c> lists no unavailable feature for it
/// (what libvirt's <c>domcapabilities</c> and Nova's CPU comparison ask); QEMU answers that in a fraction of a second
/// from a machine without a guest (<c>-machine none</c>).
/// </summary>
public static class HostCpu
{
    /// <summary>Reads the first processor's vendor, model name and flags from <paramref name="cpuinfo"/> (the file's text).</summary>
    public static HostCpuInfo Parse(string cpuinfo)
    {
        string? vendor = null, model = null, flags = null;
        foreach (var line in cpuinfo.Split('\n'))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                if (vendor is not null || model is not null || flags is not null)
                {
                    break; // the first processor's block ended
                }
                continue;
            }
            var key = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            switch (key)
            {
                case "vendor_id":
                    vendor ??= value;
                    break;
                case "model name":
                    model ??= value;
                    break;
                case "flags":
                    flags ??= value;
                    break;
            }
        }
        string? digest = null;
        if (flags is not null)
        {
            var sorted = string.Join(' ', flags.Split(' ', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
            digest = Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(sorted)));
        }
        return new HostCpuInfo(vendor, model, digest);
    }

    /// <summary>This host's CPU (<c>/proc/cpuinfo</c>); nothing known when it cannot be read.</summary>
    public static HostCpuInfo Read()
    {
        try
        {
            return Parse(File.ReadAllText("/proc/cpuinfo"));
        }
        catch (IOException)
        {
            return new HostCpuInfo(null, null, null);
        }
    }

    /// <summary>
    /// The named models in a <c>query-cpu-definitions</c> answer (QMP lines) that run with every feature and migrate
    /// (<c>migration-safe</c>), without <c>host</c>, <c>max</c> and <c>base</c>, which are no fixed model.
    /// </summary>
    public static IReadOnlyList<string> ParseUsableModels(string qmpOutput)
    {
        var models = new List<string>();
        foreach (var line in qmpOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!line.StartsWith('{'))
            {
                continue;
            }
            using var doc = JsonDocument.Parse(line);
            if (!doc.RootElement.TryGetProperty("return", out var ret) || ret.ValueKind != JsonValueKind.Array)
            {
                continue;
            }
            foreach (var def in ret.EnumerateArray())
            {
                var name = def.GetProperty("name").GetString()!;
                var usable = def.TryGetProperty("unavailable-features", out var missing) && missing.GetArrayLength() == 0;
                var safe = def.TryGetProperty("migration-safe", out var s) && s.ValueKind == JsonValueKind.True;
                if (usable && safe && name is not ("host" or "max" or "base"))
                {
                    models.Add(name);
                }
            }
        }
        return [.. models.Order(StringComparer.Ordinal)];
    }

    /// <summary>
    /// Asks QEMU (<c>-machine none</c> under <paramref name="accel"/>, QMP on stdio) which named models this host runs
    /// with every feature. Fails with <see cref="ErrorKind.Unavailable"/> naming QEMU's words when it cannot say.
    /// </summary>
    public static async Task<IReadOnlyList<string>> QueryUsableModelsAsync(string qemuBinary, string accel, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var result = await HostTool.RunAsync(qemuBinary, ["-machine", "none", "-accel", accel, "-nodefaults", "-display", "none", "-qmp", "stdio"],
            new HostToolOptions
            {
                Stdin = "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"query-cpu-definitions\"}\n{\"execute\":\"quit\"}\n",
                Timeout = timeout,
                MissingHint = "install it with 'apt-get install qemu-system-x86'",
            }, cancellationToken).ConfigureAwait(false);
        var models = ParseUsableModels(result.Stdout);
        return models.Count > 0 || result.Succeeded ? models
            : throw new StrataException(ErrorKind.Unavailable, $"{qemuBinary} -machine none -accel {accel} could not list its CPU models (exit {result.ExitCode}): {result.Error}");
    }
}
