using System.Text.Json;
using Strata.Contracts;

namespace Strata.Daemon.DockerApi;

/// <summary>
/// Bind mounts and named volumes: <c>HostConfig.Binds</c> (<c>-v SOURCE:TARGET[:ro|rw]</c>) and <c>HostConfig.Mounts</c>
/// of type <c>bind</c> or <c>volume</c> (tmpfs mounts are in DockerContainerSpec.Tmpfs.cs). A named volume that does
/// not exist yet is listed in <see cref="NewVolumes"/>, to be created with the container.
/// </summary>
internal sealed partial class DockerContainerSpec
{
    private MountSpec ParseBind(string bind, string field)
    {
        var parts = bind.Split(':');
        if (parts.Length is < 2 or > 3)
        {
            throw StrataException.Invalid(field, $"'{bind}' is not SOURCE:TARGET[:ro|rw]");
        }
        var readOnly = false;
        if (parts.Length == 3)
        {
            foreach (var option in parts[2].Split(','))
            {
                readOnly = option switch
                {
                    "ro" => true,
                    "rw" => false,
                    "z" or "Z" or "rprivate" or "private" or "nocopy" => readOnly,
                    _ => throw Unsupported(field, $"'{bind}': mount option '{option}' is not supported; use ro or rw"),
                };
            }
        }
        return Mount(parts[0], parts[1], readOnly, field);
    }

    private MountSpec Mount(string source, string target, bool readOnly, string field)
    {
        if (!target.StartsWith('/'))
        {
            throw StrataException.Invalid(field, $"'{target}' is not an absolute path in the container");
        }
        if (source.StartsWith('/'))
        {
            return new MountSpec { Source = source, Target = target, ReadOnly = readOnly };
        }
        DockerVolumes.ValidateName(source, field);
        if (!_volumes.Exists(_project, source))
        {
            NewVolumes.Add(source);
        }
        return new MountSpec { Source = _volumes.PathOf(_project, source), Target = target, ReadOnly = readOnly };
    }

    private void ReadMounts(JsonElement v, string field)
    {
        if (v.ValueKind != JsonValueKind.Array)
        {
            RefuseUnlessZero(field, v);
            return;
        }
        var i = 0;
        foreach (var m in v.EnumerateArray())
        {
            var f = $"{field}[{i++}]";
            var type = m.TryGetProperty("Type", out var t) ? t.GetString() : null;
            var source = m.TryGetProperty("Source", out var s) ? s.GetString() ?? "" : "";
            var target = m.TryGetProperty("Target", out var tg) ? tg.GetString() ?? "" : "";
            var readOnly = m.TryGetProperty("ReadOnly", out var ro) && ro.ValueKind == JsonValueKind.True;
            if (type == "tmpfs")
            {
                _tmpfs.Add(ReadTmpfsMount(m, f, target, readOnly));
                continue;
            }
            foreach (var option in m.EnumerateObject())
            {
                if (option.Name is not ("Type" or "Source" or "Target" or "ReadOnly" or "Consistency"))
                {
                    RefuseUnlessZero($"{f}.{option.Name}", option.Value);
                }
            }
            _mounts.Add(type switch
            {
                "bind" when source.StartsWith('/') => Mount(source, target, readOnly, f),
                "bind" => throw StrataException.Invalid($"{f}.Source", $"'{source}' is not an absolute host path"),
                "volume" when source.Length > 0 => Mount(source, target, readOnly, f),
                "volume" => throw Unsupported($"{f}.Source", "anonymous volumes are not supported; name the volume"),
                _ => throw Unsupported($"{f}.Type", $"'{type}' mounts are not supported; use bind, volume or tmpfs"),
            });
        }
    }
}
