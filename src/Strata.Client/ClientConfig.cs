using System.Text.Json;
using System.Text.Json.Serialization;

namespace Strata.Client;

/// <summary>
/// The CLI's config file: <c>$STRATA_CONFIG</c>, else <c>$XDG_CONFIG_HOME/strata/config.json</c>, else
/// <c>~/.config/strata/config.json</c>. JSON with any of <c>host</c>, <c>socket</c>, <c>token</c>,
/// <c>project</c>, <c>tlsCa</c>. Flags and environment variables win over it. A file holding a token must not be
/// readable by group or others: such a file is refused, as ssh refuses a loose key.
/// </summary>
public sealed record ClientConfig
{
    public string? Host { get; init; }
    public string? Socket { get; init; }
    public string? Token { get; init; }
    public string? Project { get; init; }
    public string? TlsCa { get; init; }

    public static string DefaultPath()
    {
        if (Environment.GetEnvironmentVariable("STRATA_CONFIG") is { Length: > 0 } explicitPath)
        {
            return explicitPath;
        }
        var xdg = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME");
        var home = string.IsNullOrEmpty(xdg) ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config") : xdg;
        return Path.Combine(home, "strata", "config.json");
    }

    /// <summary>The config file's values, or null when there is none. Throws <see cref="Contracts.StrataException"/> for a broken or loose file.</summary>
    public static ClientConfig? Load(string? path = null)
    {
        path ??= DefaultPath();
        if (!File.Exists(path))
        {
            return null;
        }
        ClientConfig? config;
        try
        {
            config = JsonSerializer.Deserialize(File.ReadAllText(path), ClientConfigJson.Default.ClientConfig);
        }
        catch (JsonException e)
        {
            throw Contracts.StrataException.Invalid("config", $"{path} is not valid JSON ({e.Message}); expected {{\"host\": ..., \"token\": ..., \"project\": ...}}");
        }
        if (config?.Token is { Length: > 0 } && (File.GetUnixFileMode(path) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead)) != 0)
        {
            throw Contracts.StrataException.Invalid("config", $"{path} holds a token but others can read it; run 'chmod 600 {path}'");
        }
        return config;
    }
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(ClientConfig))]
internal sealed partial class ClientConfigJson : JsonSerializerContext;
