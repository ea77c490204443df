using System.Text.Json;
using Strata.Contracts;

namespace Strata.Daemon.DockerApi;

internal sealed partial class DockerContainerSpec
{
    /// <summary>
    /// The body of <c>POST /containers/{id}/update</c> (<c>docker update</c>) as a live resize: <c>Memory</c> and the
    /// CPU limit (<c>NanoCpus</c>, or <c>CpuQuota</c> over <c>CpuPeriod</c>). What a client sends for options it does
    /// not use (zeros, empty strings, an empty restart policy) is ignored; any other option is refused by name, and so
    /// is a swap limit other than the memory limit. Nothing asked is a 400.
    /// </summary>
    internal static (long? MemoryBytes, double? Cpus) ParseUpdate(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw StrataException.Invalid("body", "expected the update as a JSON object");
        }
        long? memory = null;
        double? cpus = null;
        foreach (var p in body.EnumerateObject())
        {
            var field = "HostConfig." + p.Name;
            switch (p.Name)
            {
                case "Memory":
                    memory = Positive(p.Value, field) ?? memory;
                    break;
                case "MemorySwap":
                    RefuseSwapBeyondMemory(body, p.Value, field);
                    break;
                case "NanoCpus":
                    if (Positive(p.Value, field) is { } nano)
                    {
                        cpus = nano / 1e9;
                    }
                    break;
                case "CpuQuota":
                    if (Positive(p.Value, field) is { } quota)
                    {
                        cpus = (double)quota / (LongMember(body, "CpuPeriod") is > 0 and var period ? period : 100_000);
                    }
                    break;
                case "CpuPeriod":
                    if (Positive(p.Value, field) is not null && LongMember(body, "CpuQuota") is not > 0)
                    {
                        throw Unsupported(field, "a CPU period alone changes no limit here; give --cpus (or --cpu-quota with --cpu-period)");
                    }
                    break;
                case "RestartPolicy":
                    RefuseUnlessZero(field, p.Value, "Strata keeps the restart policy a container was created with; recreate it with --restart");
                    break;
                default:
                    RefuseUnlessZero(field, p.Value, "docker update here changes --memory and --cpus (through Strata's live resize); this option is not supported, remove it");
                    break;
            }
        }
        if (memory is null && cpus is null)
        {
            throw StrataException.Invalid("body", "nothing to update: give --memory and/or --cpus");
        }
        return (memory, cpus);
    }
}
