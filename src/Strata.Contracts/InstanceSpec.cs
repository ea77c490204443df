namespace Strata.Contracts;

/// <summary>
/// What the user asked for. This is the API request body of <c>POST /v1/instances</c> and is stored
/// verbatim (after normalisation) with the instance. Unknown JSON fields are rejected.
/// </summary>
public sealed record InstanceSpec
{
    /// <summary>DNS label: 1-63 chars of [a-z0-9-], starting and ending with a letter or digit. Generated when omitted.</summary>
    public string? Name { get; init; }

    /// <summary><c>process</c>, <c>container</c>, <c>sandbox</c>, <c>vm</c>, <c>wasm</c> or <c>auto</c> (default).</summary>
    public string? Tier { get; init; }

    /// <summary>Image reference or module path. The process tier takes none.</summary>
    public string? Image { get; init; }

    /// <summary>Overrides the image's entrypoint.</summary>
    public IReadOnlyList<string>? Command { get; init; }

    /// <summary>Overrides the image's default arguments (CMD). For the process tier, argv is Command ++ Args.</summary>
    public IReadOnlyList<string>? Args { get; init; }

    public IReadOnlyDictionary<string, string>? Env { get; init; }

    public string? WorkingDir { get; init; }

    public ResourceSpec? Resources { get; init; }

    /// <summary><c>no</c> (default), <c>on-failure</c>, <c>on-failure:N</c> or <c>always</c>.</summary>
    public string? Restart { get; init; }

    public IReadOnlyDictionary<string, string>? Labels { get; init; }

    /// <summary>Host paths made visible to the workload (tiers that support it).</summary>
    public IReadOnlyList<MountSpec>? Mounts { get; init; }

    /// <summary>Memory-backed file systems mounted into the instance, empty at every start (container tier).</summary>
    public IReadOnlyList<TmpfsSpec>? Tmpfs { get; init; }

    /// <summary>
    /// The main process runs on a terminal (container tier): its output is the terminal's, one raw stream (logged as
    /// stdout); the terminal's size is set through attach (Docker's resize).
    /// </summary>
    public bool Tty { get; init; }

    /// <summary>
    /// The terminal's size when the main process starts (with <see cref="Tty"/>): the process sees it from its first
    /// instruction (OCI <c>process.consoleSize</c>). Null: 0×0 until the first resize.
    /// </summary>
    public TerminalSize? TerminalSize { get; init; }

    /// <summary>The main process reads input written through attach (container tier); otherwise its stdin is /dev/null.</summary>
    public bool Stdin { get; init; }

    /// <summary>Remove the instance as soon as it has finished.</summary>
    public bool AutoRemove { get; init; }

    /// <summary>
    /// Wall-clock limit of one run in seconds; when it passes the workload is ended and the instance fails
    /// with <c>limit: timeout</c>. Tiers that support it say so in their docs (wasm: epoch interruption).
    /// </summary>
    public double? TimeoutSeconds { get; init; }

    /// <summary>
    /// Every change the workload makes is discarded when it stops (tiers with a disk of their own: the vm tier
    /// throws its disk overlay away at the end of each run).
    /// </summary>
    public bool Disposable { get; init; }

    /// <summary>Boot the guest cold instead of starting it from its image's booted template (sandbox tier; docs/sandbox.md#templates).</summary>
    public bool NoTemplate { get; init; }

    /// <summary>Hardening and privileges (container tier).</summary>
    public SecuritySpec? Security { get; init; }

    /// <summary>
    /// <c>none</c> (default: own network namespace with loopback only), <c>host</c>, or the name of a network
    /// (<c>strata0</c> is the default bridge; docs/network.md). Container tier.
    /// </summary>
    public string? Network { get; init; }

    /// <summary>More names (DNS labels) the other members of its network reach the instance by, beside its name.</summary>
    public IReadOnlyList<string>? NetworkAliases { get; init; }

    /// <summary>Host ports forwarded to the instance; needs a network (the default bridge when <see cref="Network"/> is unset).</summary>
    public IReadOnlyList<PortSpec>? Ports { get; init; }

    /// <summary>What the workload needs; the tier advisor picks the tier from it for <c>tier: auto</c> (docs/advisor.md).</summary>
    public WorkloadRequirements? Requirements { get; init; }

    /// <summary>
    /// Right-sizing of this instance: <c>off</c>, <c>recommend</c> or <c>auto</c> (limits changed live from measured
    /// usage); null follows its project's default (docs/rightsizing.md). Changed later with <c>PUT …/rightsize</c>.
    /// </summary>
    public string? Rightsize { get; init; }
}

/// <summary>Privileges of the workload (container tier). The defaults are the restrictive ones.</summary>
public sealed record SecuritySpec
{
    /// <summary>Mount the root filesystem read-only.</summary>
    public bool ReadOnlyRootfs { get; init; }

    /// <summary><c>uid[:gid]</c> or <c>name[:group]</c> as in the image's /etc/passwd; overrides the image's USER.</summary>
    public string? User { get; init; }

    /// <summary>Capabilities to add to the default set, e.g. <c>NET_ADMIN</c> (with or without <c>CAP_</c>); <c>ALL</c> adds every one.</summary>
    public IReadOnlyList<string>? CapAdd { get; init; }

    /// <summary>Capabilities to remove from the default set; <c>ALL</c> removes every one.</summary>
    public IReadOnlyList<string>? CapDrop { get; init; }

    /// <summary>Host devices made available: <c>/dev/fuse</c> or <c>/dev/HOST:/dev/CTR</c>.</summary>
    public IReadOnlyList<string>? Devices { get; init; }
}

public sealed record ResourceSpec
{
    /// <summary>CPU quota in cores (0.5 = half a core).</summary>
    public double? Cpus { get; init; }

    /// <summary>Memory limit in bytes.</summary>
    public long? MemoryBytes { get; init; }

    /// <summary>Maximum number of processes (tasks).</summary>
    public long? Pids { get; init; }

    /// <summary>CPUs the workload may run on, in cpuset list syntax: <c>0-2,4</c>.</summary>
    public string? Cpuset { get; init; }

    /// <summary>
    /// Disk space the instance is accounted for, in bytes: counted against its project's disk quota at admission.
    /// Declared, not enforced by the drivers (docs/security.md).
    /// </summary>
    public long? DiskBytes { get; init; }
}

public sealed record MountSpec
{
    public string Source { get; init; } = "";
    public string Target { get; init; } = "";
    public bool ReadOnly { get; init; }
}

/// <summary>A terminal's size in character cells.</summary>
public sealed record TerminalSize
{
    public ushort Columns { get; init; }
    public ushort Rows { get; init; }
}

/// <summary>
/// A tmpfs (memory-backed, counted against the instance's memory limit) mounted at <see cref="Target"/>.
/// </summary>
public sealed record TmpfsSpec
{
    public string Target { get; init; } = "";

    /// <summary>Its size limit in bytes; null: the kernel's default (half of the host's memory).</summary>
    public long? SizeBytes { get; init; }

    /// <summary>Permission bits of its root directory in octal, e.g. <c>1777</c> (the default) or <c>755</c>.</summary>
    public string? Mode { get; init; }

    /// <summary>
    /// Mount flags: <c>ro</c>/<c>rw</c>, <c>exec</c>/<c>noexec</c>, <c>suid</c>/<c>nosuid</c>, <c>dev</c>/<c>nodev</c>,
    /// and <c>uid=N</c>, <c>gid=N</c> (owner of its root). Null: <c>nosuid,nodev,noexec</c> (Docker's <c>--tmpfs</c>
    /// defaults); a later flag overrides an earlier one, so <c>exec</c> lifts the default <c>noexec</c>.
    /// </summary>
    public IReadOnlyList<string>? Options { get; init; }

    /// <summary>The defaults every tmpfs starts from; <see cref="Options"/> come after them.</summary>
    public static readonly IReadOnlyList<string> DefaultOptions = ["nosuid", "nodev", "noexec"];

    private static readonly string[] s_flags = ["ro", "rw", "exec", "noexec", "suid", "nosuid", "dev", "nodev"];

    /// <summary>Throws a 400 naming <paramref name="field"/> when something is not a tmpfs this spec can describe.</summary>
    public void Validate(string field)
    {
        if (!Target.StartsWith('/') || Target == "/" || Target.Split('/').Contains(".."))
        {
            throw StrataException.Invalid($"{field}.target", $"'{Target}' is not a path below / inside the instance");
        }
        if (SizeBytes is < 0)
        {
            throw StrataException.Invalid($"{field}.sizeBytes", $"{SizeBytes} is not a size; give a number of bytes ≥ 0 (0: the kernel's default)");
        }
        if (Mode is { } mode && (mode.Length is 0 or > 4 || mode.Any(c => c is < '0' or > '7')))
        {
            throw StrataException.Invalid($"{field}.mode", $"'{mode}' is not an octal file mode such as 1777 or 755");
        }
        foreach (var option in Options ?? [])
        {
            var ok = s_flags.Contains(option)
                || ((option.StartsWith("uid=", StringComparison.Ordinal) || option.StartsWith("gid=", StringComparison.Ordinal))
                    && option.Length is > 4 and < 15 && option[4..].All(char.IsAsciiDigit));
            if (!ok)
            {
                throw StrataException.Invalid($"{field}.options", $"'{option}' is not a tmpfs option Strata takes; use ro, rw, exec, noexec, suid, nosuid, dev, nodev, uid=N, gid=N (and sizeBytes, mode)");
            }
        }
    }

    /// <summary>The mount options as the kernel takes them: defaults, flags, then size and mode.</summary>
    public IReadOnlyList<string> MountOptions()
    {
        var options = new List<string>(DefaultOptions);
        foreach (var option in Options ?? [])
        {
            // A flag replaces its opposite (exec lifts noexec), so the list reads as what is in effect.
            var opposite = option switch
            {
                "ro" => "rw", "rw" => "ro", "exec" => "noexec", "noexec" => "exec", "suid" => "nosuid",
                "nosuid" => "suid", "dev" => "nodev", "nodev" => "dev", _ => null,
            };
            options.RemoveAll(o => o == opposite || o == option || (option.Contains('=') && o.StartsWith(option[..4], StringComparison.Ordinal)));
            options.Add(option);
        }
        if (SizeBytes is { } size and > 0)
        {
            options.Add("size=" + size.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        options.Add("mode=" + (Mode ?? "1777"));
        return options;
    }
}

/// <summary>A parsed restart policy.</summary>
public readonly record struct RestartPolicy(RestartMode Mode, int MaxRetries)
{
    public static readonly RestartPolicy No = new(RestartMode.No, 0);

    public bool ShouldRestart(int exitCode, int restartsSoFar, bool stoppedByUser) => Mode switch
    {
        _ when stoppedByUser => false,
        RestartMode.Always => true,
        RestartMode.OnFailure => exitCode != 0 && (MaxRetries == 0 || restartsSoFar < MaxRetries),
        _ => false,
    };

    public static bool TryParse(string? text, out RestartPolicy policy)
    {
        policy = No;
        if (string.IsNullOrWhiteSpace(text) || text == "no")
        {
            return true;
        }
        if (text == "always")
        {
            policy = new RestartPolicy(RestartMode.Always, 0);
            return true;
        }
        if (text == "on-failure")
        {
            policy = new RestartPolicy(RestartMode.OnFailure, 0);
            return true;
        }
        if (text.StartsWith("on-failure:", StringComparison.Ordinal)
            && int.TryParse(text.AsSpan("on-failure:".Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n)
            && n > 0)
        {
            policy = new RestartPolicy(RestartMode.OnFailure, n);
            return true;
        }
        return false;
    }

    public override string ToString() => Mode switch
    {
        RestartMode.Always => "always",
        RestartMode.OnFailure => MaxRetries > 0 ? $"on-failure:{MaxRetries}" : "on-failure",
        _ => "no",
    };
}

public enum RestartMode
{
    No = 0,
    OnFailure = 1,
    Always = 2,
}
