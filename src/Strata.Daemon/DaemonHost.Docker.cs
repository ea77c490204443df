using Strata.Daemon.DockerApi;

namespace Strata.Daemon;

/// <summary>The Docker Engine API sockets' life: made ready before listening, secured after, removed at shutdown.</summary>
public sealed partial class DaemonHost
{
    private static void PrepareDockerSockets(DaemonOptions options)
    {
        foreach (var socket in options.DockerSockets)
        {
            PrepareSocket(socket.Path);
        }
    }

    private static void SecureDockerSockets(DaemonOptions options)
    {
        foreach (var socket in options.DockerSockets)
        {
            File.SetUnixFileMode(socket.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
            if (FindGroup(socket.Group ?? "strata") is { } gid)
            {
                _ = Chown(socket.Path, -1, gid);
            }
            else if (socket.Group is not null)
            {
                throw new Contracts.StrataException(Contracts.ErrorKind.InvalidArgument, $"--socket-group: no group named '{socket.Group}' on this host (socket {socket.Path}); create it or name another");
            }
        }
    }

    private void DeleteDockerSockets()
    {
        foreach (var socket in _options.DockerSockets)
        {
            try
            {
                File.Delete(socket.Path);
            }
            catch (IOException)
            {
            }
        }
    }
}
