using System.Globalization;
using System.Text;
using Strata.Contracts;

namespace Strata.Qemu.Guest;

/// <summary>
/// What the guest runs. It travels on the kernel command line as <c>strata.workload=BASE64</c> of a
/// small POSIX shell script built here, with every value single-quoted, so argv reaches
/// <c>exec</c> exactly as given (no word splitting, no globbing, no expansion).
/// </summary>
/// <param name="Uid">The user the program runs as; anything but 0:0 drops privileges through busybox
/// <c>nsenter -F -S UID -G GID</c> (setgid, setgroups to none, setuid, then exec in the same process).</param>
/// <param name="Home">HOME unless <paramref name="Env"/> sets it; null: <c>/root</c>.</param>
public sealed record GuestWorkload(IReadOnlyList<string> Argv, IReadOnlyDictionary<string, string>? Env = null, string? WorkingDir = null,
    long Uid = 0, long Gid = 0, string? Home = null)
{
    /// <summary>x86 Linux keeps 2048 bytes of command line; this leaves room for the rest of it.</summary>
    public const int MaxEncodedLength = 1536;

    public const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public string ToScript()
    {
        if (Argv.Count == 0 || string.IsNullOrEmpty(Argv[0]))
        {
            throw StrataException.Invalid("command", "the guest workload needs a command");
        }
        var s = new StringBuilder();
        s.Append("export PATH=").Append(Quote(DefaultPath)).Append(" HOME=").Append(Quote(string.IsNullOrEmpty(Home) ? "/root" : Home)).Append('\n');
        foreach (var (key, value) in Env ?? new Dictionary<string, string>())
        {
            if (key.Length == 0 || !key.All(c => c == '_' || char.IsAsciiLetterOrDigit(c)) || char.IsAsciiDigit(key[0]))
            {
                throw StrataException.Invalid($"env.{key}", "an environment variable name must be letters, digits and '_', not starting with a digit");
            }
            s.Append("export ").Append(key).Append('=').Append(Quote(value)).Append('\n');
        }
        var dir = string.IsNullOrEmpty(WorkingDir) ? "/" : WorkingDir;
        s.Append("cd ").Append(Quote(dir)).Append(" || { echo \"strata: cannot enter working directory ").Append(dir.Replace("\"", "", StringComparison.Ordinal)).Append("\" >&2; exit 126; }\n");
        s.Append("set --");
        foreach (var arg in Argv)
        {
            s.Append(' ').Append(Quote(arg));
        }
        s.Append('\n');
        if (!Argv[0].Contains('/', StringComparison.Ordinal))
        {
            // The guest's busybox sh runs its own applet for a bare name (sh, ls, ...) rather than the image's
            // program, and so does nsenter: look the name up in PATH first, as execvp would.
            s.Append(ResolveFromPath);
        }
        if (Uid < 0 || Gid < 0)
        {
            throw StrataException.Invalid("user", $"uid {Uid} and gid {Gid} must not be negative");
        }
        if (Uid != 0 || Gid != 0)
        {
            // The script runs in busybox sh, which runs its own nsenter applet for the bare name (whatever the image has).
            s.Append(string.Create(CultureInfo.InvariantCulture, $"exec nsenter -F -S {Uid} -G {Gid} -- \"$@\"\n"));
        }
        else
        {
            s.Append("exec \"$@\"\n");
        }
        return s.ToString();
    }

    /// <summary>The <c>strata.workload=...</c> kernel argument. Throws when it would not fit the command line.</summary>
    public string ToKernelArgument()
    {
        var encoded = Convert.ToBase64String(Encoding.UTF8.GetBytes(ToScript()));
        if (encoded.Length > MaxEncodedLength)
        {
            throw StrataException.Invalid("command",
                $"the command, environment and working directory take {encoded.Length} bytes encoded, more than the {MaxEncodedLength} the guest kernel command line can carry; shorten them or move data into the image");
        }
        return "strata.workload=" + encoded;
    }

    /// <summary>Replaces $1 with its path as busybox <c>which</c> finds it in PATH (a real lookup), or exits 127 as a shell would.</summary>
    private const string ResolveFromPath =
        "_sf=$(which \"$1\") || { echo \"strata: $1: not found\" >&2; exit 127; }; shift; set -- \"$_sf\" \"$@\"; unset _sf\n";

    internal static string Quote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
