using System.Runtime.InteropServices;

namespace Strata.Node.Supervision;

/// <summary>libc calls only the supervisor executable needs (process creation and exec).</summary>
internal static unsafe partial class Libc
{
    public const int WNOHANG = 1;
    public const int F_SETFD = 2;
    public const int FD_CLOEXEC = 1;
    public const int SIG_SETMASK = 2;
    public const short POSIX_SPAWN_SETPGROUP = 0x02;
    public const short POSIX_SPAWN_SETSIGDEF = 0x04;
    public const short POSIX_SPAWN_SETSIGMASK = 0x08;
    public const nint SIG_DFL = 0;
    public const nint SIG_IGN = 1;

    // Opaque glibc types (posix_spawnattr_t is 336 bytes, posix_spawn_file_actions_t 80, sigset_t 128,
    // struct sigaction 152 on x86_64/aarch64); allocated larger to be safe.
    public const int OpaqueBytes = 1024;

    [LibraryImport("libc")]
    public static partial int posix_spawn(int* pid, byte* path, void* fileActions, void* attributes, byte** argv, byte** envp);

    [LibraryImport("libc")]
    public static partial int posix_spawn_file_actions_init(void* fileActions);

    [LibraryImport("libc")]
    public static partial int posix_spawn_file_actions_destroy(void* fileActions);

    [LibraryImport("libc")]
    public static partial int posix_spawn_file_actions_adddup2(void* fileActions, int fd, int newFd);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int posix_spawn_file_actions_addopen(void* fileActions, int fd, string path, int flags, int mode);

    [LibraryImport("libc")]
    public static partial int posix_spawnattr_init(void* attributes);

    [LibraryImport("libc")]
    public static partial int posix_spawnattr_destroy(void* attributes);

    [LibraryImport("libc")]
    public static partial int posix_spawnattr_setflags(void* attributes, short flags);

    [LibraryImport("libc")]
    public static partial int posix_spawnattr_setpgroup(void* attributes, int pgroup);

    [LibraryImport("libc")]
    public static partial int posix_spawnattr_setsigmask(void* attributes, void* sigset);

    [LibraryImport("libc")]
    public static partial int posix_spawnattr_setsigdefault(void* attributes, void* sigset);

    [LibraryImport("libc")]
    public static partial int sigfillset(void* sigset);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int waitpid(int pid, int* status, int options);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setsid();

    [LibraryImport("libc", SetLastError = true)]
    public static partial int dup2(int fd, int newFd);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int chdir(string path);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int execvp(byte* file, byte** argv);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fcntl(int fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "_exit")]
    public static partial void Exit(int status);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int sigprocmask(int how, void* set, void* oldSet);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int sigaction(int signal, void* action, void* oldAction);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint signal(int signal, nint handler);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall_rt_sigaction(long number, int signal, void* action, void* oldAction, nuint maskBytes);

    /// <summary>
    /// rt_sigaction straight to the kernel, for the signals glibc's sigaction refuses (32, 33). The kernel's
    /// struct sigaction starts with the handler, like glibc's.
    /// </summary>
    public static int RawSigaction(int signal, void* action, void* oldAction)
    {
        long number = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => 13,
            Architecture.Arm64 => 134,
            _ => -1,
        };
        return number < 0 ? -1 : (int)syscall_rt_sigaction(number, signal, action, oldAction, 8);
    }

    /// <summary>A NULL-terminated array of NUL-terminated UTF-8 strings, on the native heap (never freed: the caller execs or spawns once).</summary>
    public static byte** ToNativeStringArray(IReadOnlyList<string> values)
    {
        var array = (byte**)NativeMemory.AllocZeroed((nuint)(values.Count + 1), (nuint)sizeof(byte*));
        for (var i = 0; i < values.Count; i++)
        {
            array[i] = (byte*)Marshal.StringToCoTaskMemUTF8(values[i]);
        }
        return array;
    }
}
