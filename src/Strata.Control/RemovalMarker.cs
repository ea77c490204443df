using System.Text;
using System.Text.Json;
using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Control;

/// <summary>
/// <c>removing</c> in an instance directory: "the record is gone, the driver's cleanup may not be". Written
/// (without fsync: it only has to outlive a daemon crash; after a host crash there are no mounts or cgroups
/// left to clean) before an auto-removed instance is forgotten, read by the orphan sweep at start-up.
/// Format: line 1 <c>strata-removal 1 TIER</c>, line 2 the driver handle as JSON.
/// </summary>
internal static class RemovalMarker
{
    public const string FileName = "removing";
    private const string Magic = "strata-removal 1 ";

    public sealed record Marker(Tier Tier, DriverHandle Handle);

    public static bool TryWrite(string directory, Tier tier, DriverHandle handle)
    {
        try
        {
            var text = Magic + tier.ToName() + "\n" + JsonSerializer.Serialize(handle, StrataJsonContext.Default.DriverHandle) + "\n";
            File.WriteAllText(Path.Combine(directory, FileName), text, Encoding.UTF8);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false; // the caller removes synchronously instead
        }
    }

    public static Marker? TryRead(string directory)
    {
        try
        {
            var lines = File.ReadAllLines(Path.Combine(directory, FileName));
            if (lines.Length < 2 || !lines[0].StartsWith(Magic, StringComparison.Ordinal) || !TierNames.TryParse(lines[0][Magic.Length..], out var tier))
            {
                return null;
            }
            return JsonSerializer.Deserialize(lines[1], StrataJsonContext.Default.DriverHandle) is { } handle ? new Marker(tier, handle) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }
}
