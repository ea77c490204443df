using System.Net.Sockets;
using Strata.Contracts;
using Strata.Contracts.Drivers;

namespace Strata.Node.Drivers.Vm;

public sealed partial class VmDriver
{
    // ---- console ----

    /// <summary>
    /// Connects to the serial console's socket. QEMU serves one client at a time (a second would wait unanswered),
    /// so a second attach through this daemon is refused; the log keeps the output either way.
    /// </summary>
    public async Task<Stream> OpenConsoleAsync(DriverHandle handle, CancellationToken cancellationToken)
    {
        if (!IsRunning(handle))
        {
            throw StrataException.Conflict("the VM is not running; start it first");
        }
        var path = Path.Combine(Path.GetFullPath(handle.Directory), ConsoleSocketName);
        if (!File.Exists(path))
        {
            throw StrataException.Conflict("this VM was started without a console socket (by an older Strata); restart it to attach");
        }
        if (!_attachedConsoles.TryAdd(path, 0))
        {
            throw StrataException.Conflict("someone is already attached to this VM's console; the serial console serves one client (detach the other with Ctrl-])");
        }
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
            return new ConsoleStream(socket, () => _attachedConsoles.TryRemove(path, out _));
        }
        catch (SocketException e)
        {
            socket.Dispose();
            _attachedConsoles.TryRemove(path, out _);
            throw StrataException.Conflict($"the VM's console did not answer ({e.Message}); is QEMU still running?");
        }
        catch
        {
            socket.Dispose();
            _attachedConsoles.TryRemove(path, out _);
            throw;
        }
    }

    /// <summary>The console connection; disposing it detaches (and frees the one attach slot).</summary>
    private sealed class ConsoleStream(Socket socket, Action detached) : NetworkStream(socket, ownsSocket: true)
    {
        private int _disposed;

        protected override void Dispose(bool disposing)
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                detached();
            }
            base.Dispose(disposing);
        }
    }
}
