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
            SecureSocket(socket.Path, socket.Group);
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
