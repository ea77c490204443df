using Strata.Contracts;

namespace Strata.Daemon.DockerApi;

/// <summary>
/// One Docker Engine API socket: its path, the project its requests act in, and the group that may use it
/// (mode 0660 root:GROUP; <c>strata</c> when not given, like the main socket).
/// </summary>
public sealed record DockerSocketOptions(string Path, string Project = Control.InstanceService.DefaultProject, string? Group = null)
{
    public const string DefaultPath = "/run/strata/docker.sock";

    /// <summary>
    /// Applies one docker-socket flag to <paramref name="sockets"/>: <c>--docker-socket PATH</c> adds a socket,
    /// <c>--project NAME</c> and <c>--socket-group GROUP</c> set those of the socket named just before.
    /// </summary>
    public static IReadOnlyList<DockerSocketOptions> Apply(IReadOnlyList<DockerSocketOptions> sockets, string flag, string value)
    {
        if (flag == "--docker-socket")
        {
            if (!System.IO.Path.IsPathRooted(value) || System.Text.Encoding.UTF8.GetByteCount(value) > 107)
            {
                throw StrataException.Invalid(flag, $"'{value}' must be an absolute path of at most 107 bytes");
            }
            if (sockets.Any(s => s.Path == value))
            {
                throw StrataException.Invalid(flag, $"'{value}' is given twice");
            }
            return [.. sockets, new DockerSocketOptions(value)];
        }
        if (sockets.Count == 0)
        {
            throw StrataException.Invalid(flag, $"{flag} belongs to a docker socket: give --docker-socket PATH before it");
        }
        var last = sockets[^1];
        last = flag == "--project" ? last with { Project = value } : last with { Group = value };
        return [.. sockets.Take(sockets.Count - 1), last];
    }
}
