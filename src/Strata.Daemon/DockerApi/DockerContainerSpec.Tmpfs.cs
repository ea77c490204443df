using System.Globalization;
using System.Text.Json;
using Strata.Contracts;

namespace Strata.Daemon.DockerApi;

/// <summary>
/// tmpfs mounts: <c>HostConfig.Tmpfs</c> (<c>--tmpfs PATH[:OPTIONS]</c>, a map of path to Docker's option string)
/// and <c>Mounts</c> of type <c>tmpfs</c> (<c>--mount type=tmpfs,...</c>, with <c>TmpfsOptions.SizeBytes</c> and
/// <c>Mode</c>), both as the spec's <see cref="TmpfsSpec"/>. Docker gives <c>--tmpfs</c> the defaults
/// <c>noexec,nosuid,nodev</c> and <c>--mount type=tmpfs</c> only <c>nosuid,nodev</c>; so does this.
/// </summary>
internal sealed partial class DockerContainerSpec
{
    private void ReadTmpfs(JsonElement v, string field)
    {
        if (v.ValueKind != JsonValueKind.Object)
        {
            RefuseUnlessZero(field, v);
            return;
        }
        foreach (var entry in v.EnumerateObject())
        {
            var f = $"{field}[{entry.Name}]";
            var text = String(entry.Value, f) ?? "";
            long? size = null;
            string? mode = null;
            var options = new List<string>();
            foreach (var option in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (option.StartsWith("size=", StringComparison.Ordinal))
                {
                    size = Size(option[5..], f);
                }
                else if (option.StartsWith("mode=", StringComparison.Ordinal))
                {
                    mode = option[5..];
                }
                else
                {
                    options.Add(option);
                }
            }
            AddTmpfs(new TmpfsSpec { Target = entry.Name, SizeBytes = size, Mode = mode, Options = options.Count > 0 ? options : null }, f);
        }
    }

    private TmpfsSpec ReadTmpfsMount(JsonElement m, string field, string target, bool readOnly)
    {
        long? size = null;
        string? mode = null;
        foreach (var option in m.EnumerateObject())
        {
            switch (option.Name)
            {
                case "Type" or "Target" or "ReadOnly" or "Consistency":
                    break;
                case "TmpfsOptions" when option.Value.ValueKind == JsonValueKind.Object:
                    foreach (var o in option.Value.EnumerateObject())
                    {
                        switch (o.Name)
                        {
                            case "SizeBytes":
                                size = Number(o.Value, $"{field}.TmpfsOptions.SizeBytes") is > 0 and var n ? n : null;
                                break;
                            case "Mode":
                                // Docker sends the mode as a number (the bits, e.g. 1023 for 01777).
                                mode = Number(o.Value, $"{field}.TmpfsOptions.Mode") is > 0 and var bits ? Convert.ToString(bits, 8) : null;
                                break;
                            default:
                                RefuseUnlessZero($"{field}.TmpfsOptions.{o.Name}", o.Value);
                                break;
                        }
                    }
                    break;
                case "Source":
                    RefuseUnlessZero($"{field}.Source", option.Value, "a tmpfs mount has no source; drop it");
                    break;
                default:
                    RefuseUnlessZero($"{field}.{option.Name}", option.Value);
                    break;
            }
        }
        // --mount type=tmpfs keeps exec (Docker's default there); read-only is a flag like any other.
        List<string> options = readOnly ? ["exec", "ro"] : ["exec"];
        var spec = new TmpfsSpec { Target = target, SizeBytes = size, Mode = mode, Options = options };
        Check(spec, field);
        return spec;
    }

    private void AddTmpfs(TmpfsSpec spec, string field)
    {
        Check(spec, field);
        _tmpfs.Add(spec);
    }

    /// <summary>The spec's own checks, with the Docker field named instead of the spec's.</summary>
    private static void Check(TmpfsSpec spec, string field)
    {
        try
        {
            spec.Validate("tmpfs");
        }
        catch (StrataException e)
        {
            throw Unsupported(field, e.Message.StartsWith("tmpfs.", StringComparison.Ordinal) ? e.Message[(e.Message.IndexOf(':', StringComparison.Ordinal) + 2)..] : e.Message);
        }
    }

    /// <summary>Docker's sizes: a number of bytes with an optional k, m or g (powers of 1024).</summary>
    private static long Size(string text, string field)
    {
        var t = text.ToLowerInvariant().TrimEnd('b');
        var factor = t.Length > 0 ? t[^1] switch { 'k' => 1L << 10, 'm' => 1L << 20, 'g' => 1L << 30, _ => 1L } : 1L;
        var digits = factor == 1 ? t : t[..^1];
        return long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n <= long.MaxValue / factor
            ? n * factor
            : throw Unsupported(field, $"'size={text}' is not a size; give bytes or a number with k, m or g (size=64m)");
    }
}
