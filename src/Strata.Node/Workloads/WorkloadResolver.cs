using Strata.Contracts;
using Strata.Node.Images;

namespace Strata.Node.Workloads;

/// <summary>
/// What an OCI workload runs, decided once from the image config and the spec, the same way on every tier that
/// runs an image (container, sandbox, vm): argv, environment, user, HOME and working directory. The rules are
/// Docker's (docs/workload.md):
/// <list type="bullet">
/// <item>argv is ENTRYPOINT ++ CMD. A non-empty <c>command</c> replaces the ENTRYPOINT and drops the image's CMD;
/// <c>args</c> replace the CMD. An empty <c>args</c> list counts as not given (the image's CMD stays), an empty
/// <c>command</c> list as "no ENTRYPOINT" (the image's CMD stays), and <c>command: [""]</c> (<c>--entrypoint ""</c>)
/// as "no ENTRYPOINT and no image CMD".</item>
/// <item>The environment is the image's, then PATH (when the image has none), HOSTNAME and <c>STRATA_INSTANCE</c>,
/// then the spec's; HOME, when nobody set it, is the user's home in the image's /etc/passwd, else <c>/</c>.</item>
/// <item>The user is the spec's, else the image's USER: a name or uid, optionally <c>:group</c> or <c>:gid</c>,
/// names looked up in the image's /etc/passwd and /etc/group.</item>
/// <item>The working directory is the spec's, else the image's WorkingDir, else <c>/</c>.</item>
/// </list>
/// </summary>
public static class WorkloadResolver
{
    /// <summary>Set on every tier to the instance's name, so a workload knows which instance it is.</summary>
    public const string InstanceVariable = "STRATA_INSTANCE";

    public const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /// <summary>
    /// ENTRYPOINT ++ CMD after the spec's overrides (Docker's merge of a container's config with its image's).
    /// May be empty; <see cref="Resolve"/> refuses that.
    /// </summary>
    public static IReadOnlyList<string> Argv(IReadOnlyList<string>? command, IReadOnlyList<string>? args, ImageConfig image)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (command is [""])
        {
            // --entrypoint "": no ENTRYPOINT, and as with any given entrypoint the image's CMD is dropped.
            return [.. args ?? []];
        }
        if (command is { Count: > 0 })
        {
            return [.. command, .. args ?? []];
        }
        // No entrypoint given (null) keeps the image's; an empty one removes it. Either way an empty CMD is "not given".
        IReadOnlyList<string> entrypoint = command is null ? image.Entrypoint ?? [] : [];
        IReadOnlyList<string> cmd = args is { Count: > 0 } ? args : image.Cmd ?? [];
        return [.. entrypoint, .. cmd];
    }

    /// <param name="spec">The validated spec.</param>
    /// <param name="name">The instance's name: HOSTNAME and <see cref="InstanceVariable"/>.</param>
    /// <param name="image">The image's config.</param>
    /// <param name="layers">The image's layer directories, lowest first (for /etc/passwd and /etc/group).</param>
    /// <param name="tier">The tier's name, for the example in an error.</param>
    public static ResolvedWorkload Resolve(InstanceSpec spec, string name, ImageConfig image, IReadOnlyList<string> layers, string tier)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(image);
        var argv = Argv(spec.Command, spec.Args, image);
        if (argv.Count == 0 || string.IsNullOrEmpty(argv[0]))
        {
            throw StrataException.Invalid("command",
                $"image {spec.Image} has no ENTRYPOINT or CMD and no command was given; give one, e.g. strata run --tier {tier} {spec.Image} -- sh -c 'echo hi'");
        }
        var (uid, gid) = spec.Security?.User is { Length: > 0 } specUser
            ? ImageUsers.Resolve(specUser, layers)
            : ImageUsers.Resolve(image.User, layers, "image");
        var home = ImageUsers.HomeOf(uid, layers);

        var env = new OrderedEnvironment();
        foreach (var entry in image.Env ?? [])
        {
            var eq = entry.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                env.Set(entry[..eq], entry[(eq + 1)..]);
            }
        }
        env.SetDefault("PATH", DefaultPath);
        env.Set("HOSTNAME", name);
        env.Set(InstanceVariable, name);
        foreach (var (k, v) in spec.Env ?? new Dictionary<string, string>())
        {
            env.Set(k, v);
        }
        env.SetDefault("HOME", home);

        return new ResolvedWorkload
        {
            Argv = argv,
            Env = env.ToList(),
            Uid = uid,
            Gid = gid,
            Home = home,
            WorkingDir = spec.WorkingDir ?? (string.IsNullOrEmpty(image.WorkingDir) ? "/" : image.WorkingDir),
        };
    }

    /// <summary>Variables in the order they were first set; a later value replaces an earlier one in place.</summary>
    private sealed class OrderedEnvironment
    {
        private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
        private readonly List<string> _order = [];

        public void Set(string key, string value)
        {
            if (_values.TryAdd(key, value))
            {
                _order.Add(key);
            }
            else
            {
                _values[key] = value;
            }
        }

        public void SetDefault(string key, string value)
        {
            if (!_values.ContainsKey(key))
            {
                Set(key, value);
            }
        }

        public IReadOnlyList<KeyValuePair<string, string>> ToList() => [.. _order.Select(k => KeyValuePair.Create(k, _values[k]))];
    }
}

/// <summary>What an OCI workload runs, as <see cref="WorkloadResolver"/> decided it.</summary>
public sealed record ResolvedWorkload
{
    public required IReadOnlyList<string> Argv { get; init; }
    /// <summary>Every variable the workload starts with (HOME and PATH included), in order, names unique.</summary>
    public required IReadOnlyList<KeyValuePair<string, string>> Env { get; init; }
    public required long Uid { get; init; }
    public required long Gid { get; init; }
    /// <summary>The user's home in the image (HOME unless the image or the spec set it).</summary>
    public required string Home { get; init; }
    public required string WorkingDir { get; init; }

    /// <summary>The environment as <c>KEY=VALUE</c> entries (an OCI runtime's <c>process.env</c>).</summary>
    public IReadOnlyList<string> EnvEntries() => [.. Env.Select(kv => kv.Key + "=" + kv.Value)];

    public Dictionary<string, string> EnvMap() => Env.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
}
