using System.Text;
using System.Text.Json.Nodes;
using Strata.Contracts;
using Strata.Node.Drivers.Container;
using Strata.Node.Drivers.Sandbox;
using Strata.Node.Drivers.Vm;
using Strata.Node.Images;
using Strata.Node.Workloads;
using Strata.Testing;

namespace Strata.Node.Tests.Workloads;

/// <summary>
/// One table of image-config + spec cases run through what each OCI tier really hands its engine: the container
/// tier's runc <c>config.json</c> (<see cref="ContainerDriver"/>'s workload through <see cref="BundleBuilder.Build"/>),
/// the sandbox's and the vm's guest script (decoded from the <c>strata.workload=</c> kernel argument their init
/// reads). Every tier must give the expected argv, environment, user, HOME and working directory: Docker's rules.
/// </summary>
public sealed class WorkloadParityTests
{
    private const string Name = "web-1";
    private static readonly TempDirectory Temp = Removed(new TempDirectory("strata-parity"));

    private static TempDirectory Removed(TempDirectory temp)
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => temp.Dispose();
        return temp;
    }
    private static readonly string UsersLayer = MakeUsersLayer();
    private static readonly string EmptyLayer = Directory.CreateDirectory(Temp.Combine("empty")).FullName;

    private static readonly ImageConfig Image = new()
    {
        Entrypoint = ["/entry"],
        Cmd = ["default"],
        Env = ["PATH=/img/bin", "A=image", "B=image"],
        WorkingDir = "/srv",
    };

    private static string MakeUsersLayer()
    {
        var layer = Temp.Combine("users");
        Directory.CreateDirectory(Path.Combine(layer, "etc"));
        File.WriteAllText(Path.Combine(layer, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n");
        File.WriteAllText(Path.Combine(layer, "etc", "group"), "root:x:0:\napp:x:1001:\nstaff:x:50:app\n");
        return layer;
    }

    /// <summary>What a tier's engine is told to run.</summary>
    private sealed record Outcome(IReadOnlyList<string> Argv, IReadOnlyDictionary<string, string> Env, long Uid, long Gid, string WorkingDir);

    private sealed record Case(InstanceSpec Spec, ImageConfig Image, string[] Layers, string[] Argv, long Uid, long Gid, string Home, string WorkingDir,
        Dictionary<string, string>? Env = null);

    private static InstanceSpec Spec(InstanceSpec s) => s with { Image = "img", Name = Name };

    private static readonly Dictionary<string, Case> Cases = new()
    {
        ["nothing given: ENTRYPOINT ++ CMD"] = new(Spec(new()), Image, [UsersLayer], ["/entry", "default"], 0, 0, "/root", "/srv"),
        ["args replace CMD"] = new(Spec(new() { Args = ["x", "y"] }), Image, [UsersLayer], ["/entry", "x", "y"], 0, 0, "/root", "/srv"),
        ["empty args: not given, CMD stays"] = new(Spec(new() { Args = [] }), Image, [UsersLayer], ["/entry", "default"], 0, 0, "/root", "/srv"),
        ["command replaces ENTRYPOINT and drops CMD"] = new(Spec(new() { Command = ["/bin/sh"] }), Image, [UsersLayer], ["/bin/sh"], 0, 0, "/root", "/srv"),
        ["command and args"] = new(Spec(new() { Command = ["/bin/sh"], Args = ["-c", "true"] }), Image, [UsersLayer], ["/bin/sh", "-c", "true"], 0, 0, "/root", "/srv"),
        ["command and empty args"] = new(Spec(new() { Command = ["/bin/sh"], Args = [] }), Image, [UsersLayer], ["/bin/sh"], 0, 0, "/root", "/srv"),
        ["empty command: no ENTRYPOINT, CMD stays"] = new(Spec(new() { Command = [] }), Image, [UsersLayer], ["default"], 0, 0, "/root", "/srv"),
        ["empty command and args"] = new(Spec(new() { Command = [], Args = ["echo", "hi"] }), Image, [UsersLayer], ["echo", "hi"], 0, 0, "/root", "/srv"),
        ["--entrypoint \"\" and args"] = new(Spec(new() { Command = [""], Args = ["echo", "hi"] }), Image, [UsersLayer], ["echo", "hi"], 0, 0, "/root", "/srv"),
        ["CMD-only image, args given"] = new(Spec(new() { Args = ["ls"] }), new ImageConfig { Cmd = ["sh"] }, [UsersLayer], ["ls"], 0, 0, "/root", "/"),
        ["image USER by name"] = new(Spec(new()), Image with { User = "app" }, [UsersLayer], ["/entry", "default"], 1000, 1001, "/home/app", "/srv"),
        ["image USER name:group"] = new(Spec(new()), Image with { User = "app:staff" }, [UsersLayer], ["/entry", "default"], 1000, 50, "/home/app", "/srv"),
        ["spec user uid:group wins over the image's"] = new(Spec(new() { Security = new SecuritySpec { User = "1234:staff" } }), Image with { User = "app" }, [UsersLayer],
            ["/entry", "default"], 1234, 50, "/", "/srv"),
        ["spec uid known to passwd: its group and home"] = new(Spec(new() { Security = new SecuritySpec { User = "1000" } }), Image, [EmptyLayer, UsersLayer],
            ["/entry", "default"], 1000, 1001, "/home/app", "/srv"),
        ["spec uid:gid numbers"] = new(Spec(new() { Security = new SecuritySpec { User = "7:8" } }), Image, [UsersLayer], ["/entry", "default"], 7, 8, "/", "/srv"),
        ["no /etc/passwd: HOME is /"] = new(Spec(new()), Image, [EmptyLayer], ["/entry", "default"], 0, 0, "/", "/srv"),
        ["image HOME wins over passwd"] = new(Spec(new()), Image with { Env = ["HOME=/data"] }, [UsersLayer], ["/entry", "default"], 0, 0, "/data", "/srv"),
        ["spec HOME wins over all"] = new(Spec(new() { Env = new Dictionary<string, string> { ["HOME"] = "/h" } }), Image with { Env = ["HOME=/data"] }, [UsersLayer],
            ["/entry", "default"], 0, 0, "/h", "/srv"),
        ["spec workdir wins"] = new(Spec(new() { WorkingDir = "/w" }), Image, [UsersLayer], ["/entry", "default"], 0, 0, "/root", "/w"),
        ["no workdir anywhere: /"] = new(Spec(new()), Image with { WorkingDir = null }, [UsersLayer], ["/entry", "default"], 0, 0, "/root", "/"),
        ["spec env over image env; PATH default; HOSTNAME and STRATA_INSTANCE"] = new(
            Spec(new() { Env = new Dictionary<string, string> { ["B"] = "spec", ["C"] = "spec" } }), Image with { Env = ["A=image", "B=image"] }, [UsersLayer],
            ["/entry", "default"], 0, 0, "/root", "/srv",
            new() { ["A"] = "image", ["B"] = "spec", ["C"] = "spec", ["PATH"] = WorkloadResolver.DefaultPath, ["HOSTNAME"] = Name, ["STRATA_INSTANCE"] = Name, ["HOME"] = "/root" }),
    };

    public static TheoryData<string> CaseNames() => [.. Cases.Keys];

    public static TheoryData<string> Tiers() => ["container", "sandbox", "vm"];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void EveryOciTier_GivesTheSameWorkload(string name)
    {
        var c = Cases[name];
        var outcomes = new Dictionary<string, Outcome>();
        foreach (var tier in new[] { "container", "sandbox", "vm" })
        {
            var o = Run(tier, c.Spec, c.Image, c.Layers);
            outcomes[tier] = o;
            Assert.True(c.Argv.SequenceEqual(o.Argv), $"{tier}: argv [{string.Join(", ", o.Argv)}], expected [{string.Join(", ", c.Argv)}]");
            Assert.Equal((c.Uid, c.Gid), (o.Uid, o.Gid));
            Assert.Equal(c.Home, o.Env["HOME"]);
            Assert.Equal(c.WorkingDir, o.WorkingDir);
            Assert.Equal(Name, o.Env["STRATA_INSTANCE"]);
            Assert.Equal(Name, o.Env["HOSTNAME"]);
            if (c.Env is { } env)
            {
                Assert.Equal(env.OrderBy(kv => kv.Key), o.Env.OrderBy(kv => kv.Key));
            }
        }
        // And the three agree on everything, the whole environment included.
        foreach (var tier in new[] { "sandbox", "vm" })
        {
            Assert.Equal(outcomes["container"].Env.OrderBy(kv => kv.Key), outcomes[tier].Env.OrderBy(kv => kv.Key));
        }
    }

    [Theory]
    [MemberData(nameof(Tiers))]
    public void NoCommandAnywhere_IsRefusedNamingTheField(string tier)
    {
        var e = Assert.Throws<StrataException>(() => Run(tier, Spec(new()), new ImageConfig(), [UsersLayer]));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Equal("command", e.Field);
        Assert.Contains($"--tier {tier}", e.Message, StringComparison.Ordinal);
        // --entrypoint "" drops the image's CMD too: with no args nothing is left to run.
        Assert.Equal("command", Assert.Throws<StrataException>(() => Run(tier, Spec(new() { Command = [""] }), Image, [UsersLayer])).Field);
    }

    [Theory]
    [MemberData(nameof(Tiers))]
    public void UnknownUserOrGroup_IsRefusedNamingWhereItCameFrom(string tier)
    {
        Assert.Equal("security.user", Assert.Throws<StrataException>(() => Run(tier, Spec(new() { Security = new SecuritySpec { User = "ghost" } }), Image, [UsersLayer])).Field);
        Assert.Equal("security.user", Assert.Throws<StrataException>(() => Run(tier, Spec(new() { Security = new SecuritySpec { User = "app:nogroup" } }), Image, [UsersLayer])).Field);
        Assert.Equal("image", Assert.Throws<StrataException>(() => Run(tier, Spec(new()), Image with { User = "ghost" }, [UsersLayer])).Field);
    }

    private static Outcome Run(string tier, InstanceSpec spec, ImageConfig image, string[] layers) => tier switch
    {
        "container" => Container(spec, image, layers),
        "sandbox" => Guest(SandboxWorkload.Decide(spec, Name, image, "/base.ext4", "sha256:00", layers).ToGuest().ToKernelArgument()),
        "vm" => Guest(VmDriver.Workload(spec, Name, image, layers).ToKernelArgument()),
        _ => throw new ArgumentOutOfRangeException(nameof(tier)),
    };

    /// <summary>The <c>process</c> of the config.json the container tier writes.</summary>
    private static Outcome Container(InstanceSpec spec, ImageConfig image, string[] layers)
    {
        var workload = ContainerDriver.Workload(spec, Name, new ResolvedImage(layers, image, "sha256:00"));
        var config = BundleBuilder.Build(new BundleBuilder.Plan
        {
            Hostname = Name,
            Workload = workload,
            RootfsPath = "/rootfs",
            CgroupsPath = "/strata/x",
            Spec = spec,
        });
        var process = config["process"]!.AsObject();
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in process["env"]!.AsArray().Select(e => (string)e!))
        {
            var eq = entry.IndexOf('=', StringComparison.Ordinal);
            Assert.True(env.TryAdd(entry[..eq], entry[(eq + 1)..]), $"config.json sets {entry[..eq]} twice");
        }
        return new Outcome([.. process["args"]!.AsArray().Select(a => (string)a!)], env,
            (long)process["user"]!["uid"]!, (long)process["user"]!["gid"]!, (string)process["cwd"]!);
    }

    /// <summary>Runs the guest init's script in the mind: its exports, cd, set -- and exec (with nsenter's -S/-G).</summary>
    private static Outcome Guest(string kernelArgument)
    {
        const string prefix = "strata.workload=";
        Assert.StartsWith(prefix, kernelArgument, StringComparison.Ordinal);
        var script = Encoding.UTF8.GetString(Convert.FromBase64String(kernelArgument[prefix.Length..]));
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        IReadOnlyList<string>? argv = null;
        string? cwd = null;
        (long Uid, long Gid)? user = null;
        foreach (var words in ShellCommands(script))
        {
            switch (words)
            {
                case ["export", .. var assignments]:
                    foreach (var a in assignments)
                    {
                        var eq = a.IndexOf('=', StringComparison.Ordinal);
                        env[a[..eq]] = a[(eq + 1)..];
                    }
                    break;
                case ["cd", var dir, ..]:
                    cwd = dir;
                    break;
                case ["set", "--", .. var rest] when argv is null: // a later "set --" only swaps $1 for its PATH lookup
                    argv = rest;
                    break;
                case ["exec", "nsenter", "-F", "-S", var uid, "-G", var gid, "--", "$@"]:
                    user = (long.Parse(uid, System.Globalization.CultureInfo.InvariantCulture), long.Parse(gid, System.Globalization.CultureInfo.InvariantCulture));
                    break;
                case ["exec", "$@"]:
                    user = (0, 0);
                    break;
            }
        }
        Assert.NotNull(argv);
        Assert.NotNull(cwd);
        Assert.NotNull(user);
        return new Outcome(argv, env, user.Value.Uid, user.Value.Gid, cwd);
    }

    /// <summary>Splits a POSIX sh script into commands of words: single quotes (with <c>'\''</c>), double quotes, newlines.</summary>
    private static IEnumerable<List<string>> ShellCommands(string script)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        var inWord = false;
        for (var i = 0; i < script.Length; i++)
        {
            var ch = script[i];
            if (ch == '\'')
            {
                var end = script.IndexOf('\'', i + 1);
                word.Append(script, i + 1, end - i - 1);
                inWord = true;
                i = end;
            }
            else if (ch == '"')
            {
                var end = script.IndexOf('"', i + 1);
                word.Append(script, i + 1, end - i - 1);
                inWord = true;
                i = end;
            }
            else if (ch == '\\' && i + 1 < script.Length)
            {
                word.Append(script[++i]);
                inWord = true;
            }
            else if (ch is ' ' or '\n' or ';')
            {
                if (inWord)
                {
                    words.Add(word.ToString());
                    word.Clear();
                    inWord = false;
                }
                if (ch != ' ' && words.Count > 0)
                {
                    yield return words;
                    words = [];
                }
            }
            else
            {
                word.Append(ch);
                inWord = true;
            }
        }
        if (inWord)
        {
            words.Add(word.ToString());
        }
        if (words.Count > 0)
        {
            yield return words;
        }
    }
}
