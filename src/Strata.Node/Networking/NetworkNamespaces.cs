using System.Runtime.InteropServices;

namespace Strata.Node.Networking;

/// <summary>
/// Named network namespaces (<c>/run/netns/NAME</c>) made and removed with the system calls <c>ip netns add</c> and
/// <c>ip netns del</c> use, without starting <c>ip</c>: a dedicated thread unshares a new network namespace,
/// bind-mounts it (<c>/proc/thread-self/ns/net</c>) onto the name's file and brings its loopback up, then ends,
/// so no thread of the daemon stays in it. That takes two process starts off every network member's create (and
/// one off its removal). Until <c>/run/netns</c> has been prepared as <c>ip</c> prepares it (its own shared mount,
/// so the namespaces' mounts propagate), the first namespace is made by <c>ip</c> itself.
/// </summary>
internal static partial class NetworkNamespaces
{
    private const string Directory = "/run/netns";

    /// <summary>Creates the named namespace with its loopback up; throws naming the step that failed (nothing is left behind).</summary>
    public static async Task CreateAsync(string name, CancellationToken ct)
    {
        var path = Path.Combine(Directory, name);
        if (!Prepared())
        {
            var add = await HostCommand.IpAsync(ct, "netns", "add", name).ConfigureAwait(false);
            if (add.ExitCode != 0)
            {
                throw new Contracts.StrataException(Contracts.ErrorKind.Internal, $"could not create network namespace {name}: {add.Error}");
            }
            var lo = await HostCommand.IpAsync(ct, "-n", name, "link", "set", "lo", "up").ConfigureAwait(false);
            if (lo.ExitCode != 0)
            {
                throw new Contracts.StrataException(Contracts.ErrorKind.Internal, $"could not bring up loopback in {name}: {lo.Error}");
            }
            return;
        }
        string? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                error = CreateOnThisThread(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error = e.Message;
            }
        }) { IsBackground = true, Name = "strata-netns" };
        thread.Start();
        await Task.Run(thread.Join, CancellationToken.None).ConfigureAwait(false);
        if (error is not null)
        {
            throw new Contracts.StrataException(Contracts.ErrorKind.Internal, $"could not create network namespace {name}: {error}");
        }
    }

    /// <summary>Unmounts and removes the named namespace (what <c>ip netns del</c> does); returns the error, or null.</summary>
    public static string? Delete(string name)
    {
        var path = Path.Combine(Directory, name);
        if (umount2(path, MNT_DETACH) != 0 && Marshal.GetLastPInvokeError() is var e and not (EINVAL or ENOENT))
        {
            return $"could not unmount {path}: {Marshal.GetPInvokeErrorMessage(e)}";
        }
        try
        {
            File.Delete(path);
            return null;
        }
        catch (IOException ex)
        {
            return $"could not remove {path}: {ex.Message}";
        }
    }

    /// <summary>Whether <c>/run/netns</c> is a mount point of its own (what <c>ip netns add</c> makes it the first time).</summary>
    private static bool Prepared()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/mountinfo"))
            {
                // "36 35 0:32 / /run/netns rw,... shared:5 - tmpfs ...": the fifth field is the mount point.
                var fields = line.Split(' ', 6);
                if (fields.Length > 5 && fields[4] == Directory)
                {
                    return true;
                }
            }
        }
        catch (IOException)
        {
        }
        return false;
    }

    /// <summary>Runs on a thread of its own that ends afterwards: unshare moves only the calling thread.</summary>
    private static string? CreateOnThisThread(string path)
    {
        try
        {
            using (new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.ReadWrite))
            {
            }
        }
        catch (IOException e)
        {
            return e.Message;
        }
        string? Fail(string step)
        {
            var message = $"{step}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}";
            umount2(path, MNT_DETACH);
            File.Delete(path);
            return message;
        }
        if (unshare(CLONE_NEWNET) != 0)
        {
            return Fail("unshare");
        }
        if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, null) != 0)
        {
            return Fail("bind mount");
        }
        return LoopbackUp() ? null : Fail("loopback up");
    }

    /// <summary>SIOCGIFFLAGS / SIOCSIFFLAGS with IFF_UP on <c>lo</c>, through a socket of the thread's (new) namespace.</summary>
    private static unsafe bool LoopbackUp()
    {
        var fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            return false;
        }
        try
        {
            // struct ifreq: 16 bytes of name, then a union whose first member is short ifr_flags (40 bytes in all).
            var ifreq = stackalloc byte[40];
            new Span<byte>(ifreq, 40).Clear();
            "lo"u8.CopyTo(new Span<byte>(ifreq, 16));
            if (ioctl(fd, SIOCGIFFLAGS, ifreq) != 0)
            {
                return false;
            }
            *(short*)(ifreq + 16) |= IFF_UP;
            return ioctl(fd, SIOCSIFFLAGS, ifreq) == 0;
        }
        finally
        {
            close(fd);
        }
    }

    private const int CLONE_NEWNET = 0x40000000;
    private const ulong MS_BIND = 4096;
    private const int MNT_DETACH = 2;
    private const int EINVAL = 22;
    private const int ENOENT = 2;
    private const int AF_INET = 2;
    private const int SOCK_DGRAM = 2;
    private const int SOCK_CLOEXEC = 0x80000;
    private const ulong SIOCGIFFLAGS = 0x8913;
    private const ulong SIOCSIFFLAGS = 0x8914;
    private const short IFF_UP = 1;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int unshare(int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mount(string source, string target, string fsType, ulong flags, string? data);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int umount2(string target, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int ioctl(int fd, ulong request, byte* argp);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);
}
