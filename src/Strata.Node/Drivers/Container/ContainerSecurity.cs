using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Strata.Contracts;

namespace Strata.Node.Drivers.Container;

/// <summary>
/// The container tier's security defaults: Podman's 11 default capabilities (Docker's 14 minus MKNOD, NET_RAW
/// and AUDIT_WRITE), a seccomp allowlist derived from Docker's default profile, masked and read-only /proc
/// paths. See docs/container.md.
/// </summary>
public static class ContainerSecurity
{
    public static readonly IReadOnlyList<string> DefaultCapabilities =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE",
        "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
    ];

    public static readonly IReadOnlyList<string> AllCapabilities =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
        "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
        "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ];

    public static readonly IReadOnlyList<string> MaskedPaths =
    [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ];

    public static readonly IReadOnlyList<string> ReadonlyPaths =
    [
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
    ];

    /// <summary>The default set with <paramref name="add"/> and <paramref name="drop"/> applied (docker's rules: drop first, ALL allowed).</summary>
    public static IReadOnlyList<string> Capabilities(IReadOnlyList<string>? add, IReadOnlyList<string>? drop)
    {
        var set = new List<string>(DefaultCapabilities);
        var dropped = Normalize(drop, "security.capDrop");
        var added = Normalize(add, "security.capAdd");
        if (dropped.Contains("ALL"))
        {
            set.Clear();
        }
        set.RemoveAll(dropped.Contains);
        foreach (var cap in added.Contains("ALL") ? AllCapabilities : (IEnumerable<string>)added)
        {
            if (!set.Contains(cap))
            {
                set.Add(cap);
            }
        }
        return set;
    }

    private static HashSet<string> Normalize(IReadOnlyList<string>? caps, string field)
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        foreach (var raw in caps ?? [])
        {
            var upper = raw.Trim().ToUpperInvariant();
            if (upper == "ALL")
            {
                result.Add("ALL");
                continue;
            }
            var name = upper.StartsWith("CAP_", StringComparison.Ordinal) ? upper : "CAP_" + upper;
            if (!AllCapabilities.Contains(name))
            {
                throw StrataException.Invalid(field, $"'{raw}' is not a Linux capability; use names such as NET_ADMIN or SYS_PTRACE (see capabilities(7))");
            }
            result.Add(name);
        }
        return result;
    }

    // Docker's default allowlist (profiles/seccomp/default.json), without the entries it grants only with
    // extra capabilities; those are added below when the capability is.
    private static readonly string[] s_allowed =
    [
        "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget", "capset", "chdir", "chmod",
        "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64", "clock_gettime",
        "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range",
        "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
        "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group",
        "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat",
        "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock",
        "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
        "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "futimesat",
        "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32",
        "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
        "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage",
        "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr",
        "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy",
        "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit", "ipc",
        "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32", "lgetxattr",
        "link", "linkat", "listen", "listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat",
        "lstat64", "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat",
        "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify",
        "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap",
        "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep",
        "newfstatat", "_newselect", "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2",
        "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2",
        "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead",
        "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages",
        "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
        "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
        "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_get_priority_max",
        "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
        "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select",
        "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg",
        "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32",
        "setitimer", "setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
        "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid", "setsockopt", "set_thread_area",
        "set_tid_address", "setuid", "setuid32", "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack",
        "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socket", "socketcall", "socketpair", "splice", "stat", "stat64",
        "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee",
        "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64",
        "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
        "timerfd_settime64", "times", "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat",
        "utime", "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
        "writev", "arch_prctl", "modify_ldt",
    ];

    // Granted only together with a capability, as Docker does.
    private static readonly (string Capability, string[] Syscalls)[] s_byCapability =
    [
        ("CAP_SYS_ADMIN", ["bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie",
            "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd", "setdomainname",
            "sethostname", "setns", "syslog", "umount", "umount2", "unshare"]),
        ("CAP_SYS_BOOT", ["reboot"]),
        ("CAP_SYS_CHROOT", ["chroot"]),
        ("CAP_SYS_MODULE", ["delete_module", "init_module", "finit_module"]),
        ("CAP_SYS_PACCT", ["acct"]),
        ("CAP_SYS_PTRACE", ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"]),
        ("CAP_SYS_RAWIO", ["iopl", "ioperm"]),
        ("CAP_SYS_TIME", ["settimeofday", "stime", "clock_settime", "clock_settime64"]),
        ("CAP_SYS_TTY_CONFIG", ["vhangup"]),
        ("CAP_SYS_NICE", ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
        ("CAP_SYSLOG", ["syslog"]),
        ("CAP_BPF", ["bpf"]),
        ("CAP_PERFMON", ["perf_event_open"]),
        ("CAP_DAC_READ_SEARCH", ["open_by_handle_at"]),
    ];

    private const int EPERM = 1;
    private const int ENOSYS = 38;
    // CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
    private const long NamespaceCloneFlags = 0x7E020000;

    /// <summary>
    /// An allowlist: anything not named fails with EPERM. <c>clone</c> may not create namespaces and <c>clone3</c>
    /// answers ENOSYS (its flags are in memory seccomp cannot read, so libc falls back to clone), unless the
    /// workload has CAP_SYS_ADMIN. <c>personality</c> is limited to the harmless personas.
    /// </summary>
    public static JsonObject SeccompProfile(IReadOnlyList<string> capabilities)
    {
        // The same few capability sets come back run after run: build each profile once (~400 nodes) and hand out copies.
        // JsonNode makes no promise for concurrent readers: the cache and the copying share one lock.
        var key = string.Join(',', capabilities);
        lock (s_profiles)
        {
            if (!s_profiles.TryGetValue(key, out var profile))
            {
                s_profiles[key] = profile = BuildSeccompProfile(capabilities);
            }
            return (JsonObject)profile.DeepClone();
        }
    }

    private static readonly Dictionary<string, JsonObject> s_profiles = new(StringComparer.Ordinal);

    private static JsonObject BuildSeccompProfile(IReadOnlyList<string> capabilities)
    {
        var allowed = new SortedSet<string>(s_allowed, StringComparer.Ordinal);
        foreach (var (cap, calls) in s_byCapability)
        {
            if (capabilities.Contains(cap))
            {
                allowed.UnionWith(calls);
            }
        }
        var admin = capabilities.Contains("CAP_SYS_ADMIN");
        var rules = new JsonArray
        {
            new JsonObject { ["names"] = new JsonArray([.. allowed.Select(n => (JsonNode)n)]), ["action"] = "SCMP_ACT_ALLOW" },
        };
        foreach (var persona in new long[] { 0x0, 0x8, 0x20000, 0x20008, 0xffffffff })
        {
            rules.Add(new JsonObject
            {
                ["names"] = new JsonArray("personality"),
                ["action"] = "SCMP_ACT_ALLOW",
                ["args"] = new JsonArray(new JsonObject { ["index"] = 0, ["value"] = persona, ["op"] = "SCMP_CMP_EQ" }),
            });
        }
        if (!admin)
        {
            rules.Add(new JsonObject
            {
                ["names"] = new JsonArray("clone"),
                ["action"] = "SCMP_ACT_ALLOW",
                ["args"] = new JsonArray(new JsonObject { ["index"] = 0, ["value"] = NamespaceCloneFlags, ["valueTwo"] = 0, ["op"] = "SCMP_CMP_MASKED_EQ" }),
            });
            rules.Add(new JsonObject { ["names"] = new JsonArray("clone3"), ["action"] = "SCMP_ACT_ERRNO", ["errnoRet"] = ENOSYS });
        }
        return new JsonObject
        {
            ["defaultAction"] = "SCMP_ACT_ERRNO",
            ["defaultErrnoRet"] = EPERM,
            // Native ABI only: compiling the filter for x86 and x32 as well (Docker's list) tripled runc's start
            // time here (+30 ms). Syscalls of other ABIs (32-bit binaries) hit the bad-architecture action: refused.
            ["architectures"] = RuntimeInformation.ProcessArchitecture == Architecture.Arm64
                ? new JsonArray("SCMP_ARCH_AARCH64")
                : new JsonArray("SCMP_ARCH_X86_64"),
            ["syscalls"] = rules,
        };
    }
}
