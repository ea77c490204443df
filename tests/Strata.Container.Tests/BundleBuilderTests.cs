using System.Text.Json.Nodes;
using Strata.Contracts;
using Strata.Node.Drivers.Container;
using Strata.Node.Images;

namespace Strata.Container.Tests;

/// <summary>Fast, engine-free checks of the config.json rules.</summary>
public sealed class BundleBuilderTests
{
    private static readonly ImageConfig Image = new() { Entrypoint = ["/entry"], Cmd = ["default"], Env = ["PATH=/img/bin", "A=image", "B=image"], WorkingDir = "/srv" };

    [Fact]
    public void Argv_NothingGiven_EntrypointPlusCmd() =>
        Assert.Equal(["/entry", "default"], BundleBuilder.Argv(new InstanceSpec(), Image));

    [Fact]
    public void Argv_ArgsGiven_ReplaceCmdKeepEntrypoint() =>
        Assert.Equal(["/entry", "x", "y"], BundleBuilder.Argv(new InstanceSpec { Args = ["x", "y"] }, Image));

    [Fact]
    public void Argv_CommandGiven_ReplacesEntrypointAndDropsCmd() =>
        Assert.Equal(["/bin/sh"], BundleBuilder.Argv(new InstanceSpec { Command = ["/bin/sh"] }, Image));

    [Fact]
    public void Argv_CommandAndArgs_Both() =>
        Assert.Equal(["/bin/sh", "-c", "true"], BundleBuilder.Argv(new InstanceSpec { Command = ["/bin/sh"], Args = ["-c", "true"] }, Image));

    [Fact]
    public void Argv_ImageWithoutAny_InvalidArgs()
    {
        var e = Assert.Throws<StrataException>(() => BundleBuilder.Argv(new InstanceSpec(), new ImageConfig()));
        Assert.Equal("args", e.Field);
    }

    [Fact]
    public void Environment_SpecOverridesImage_HostnameSet()
    {
        var env = BundleBuilder.Environment(new InstanceSpec { Env = new Dictionary<string, string> { ["B"] = "spec", ["C"] = "spec" } }, Image, "web");
        Assert.Equal(["PATH=/img/bin", "A=image", "B=spec", "HOSTNAME=web", "C=spec"], env);
    }

    [Fact]
    public void Capabilities_DropAllAddOne_OnlyThatOne() =>
        Assert.Equal(["CAP_NET_ADMIN"], ContainerSecurity.Capabilities(["net_admin"], ["ALL"]));

    [Fact]
    public void Capabilities_Default_PodmansElevenWithoutSysAdmin()
    {
        var caps = ContainerSecurity.Capabilities(null, null);
        Assert.Equal(11, caps.Count);
        Assert.DoesNotContain("CAP_SYS_ADMIN", caps);
        Assert.DoesNotContain("CAP_NET_RAW", caps);
    }

    [Fact]
    public void Seccomp_Default_DeniesMountAndNamespaces_AllowsThemWithSysAdmin()
    {
        static IEnumerable<string> Allowed(JsonObject profile) =>
            profile["syscalls"]!.AsArray().Where(r => (string?)r!["action"] == "SCMP_ACT_ALLOW" && r!["args"] is null)
                .SelectMany(r => r!["names"]!.AsArray().Select(n => (string)n!));
        var plain = ContainerSecurity.SeccompProfile(ContainerSecurity.DefaultCapabilities);
        Assert.Equal("SCMP_ACT_ERRNO", (string?)plain["defaultAction"]);
        Assert.DoesNotContain("mount", Allowed(plain));
        Assert.DoesNotContain("unshare", Allowed(plain));
        Assert.DoesNotContain("ptrace", Allowed(plain));
        Assert.Contains("chroot", Allowed(plain)); // CAP_SYS_CHROOT is a default capability
        Assert.Contains(plain["syscalls"]!.AsArray(), r => (string?)r!["names"]![0] == "clone3" && (int?)r["errnoRet"] == 38);
        var admin = ContainerSecurity.SeccompProfile([.. ContainerSecurity.DefaultCapabilities, "CAP_SYS_ADMIN"]);
        Assert.Contains("mount", Allowed(admin));
        Assert.Contains("clone", Allowed(admin));
    }

    [Fact]
    public void Seccomp_CachedProfile_EveryCallGetsItsOwnCopy()
    {
        var first = ContainerSecurity.SeccompProfile(ContainerSecurity.DefaultCapabilities);
        first["defaultAction"] = "SCMP_ACT_ALLOW";
        first["syscalls"]!.AsArray().Clear();
        var second = ContainerSecurity.SeccompProfile(ContainerSecurity.DefaultCapabilities);
        Assert.Equal("SCMP_ACT_ERRNO", (string?)second["defaultAction"]);
        Assert.NotEmpty(second["syscalls"]!.AsArray());
        // Two bundles built one after the other hold equal, separate filters.
        var third = ContainerSecurity.SeccompProfile(ContainerSecurity.DefaultCapabilities);
        Assert.True(JsonNode.DeepEquals(second, third));
        Assert.NotSame(second, third);
    }

    [Theory]
    [InlineData("0-1,1", true)]
    [InlineData("0", true)]
    [InlineData("a", false)]
    [InlineData("1-", false)]
    public void Validate_CpusetSyntax(string cpuset, bool valid)
    {
        var spec = new InstanceSpec { Image = "x", Resources = new ResourceSpec { Cpuset = cpuset } };
        var error = Record.Exception(() => BundleBuilder.Validate(spec));
        Assert.Equal(valid, error is null);
        if (!valid)
        {
            Assert.Equal("resources.cpuset", ((StrataException)error!).Field);
        }
    }

    [Fact]
    public void ResolveUser_NamesFromTheTopmostLayer()
    {
        var lower = Directory.CreateTempSubdirectory().FullName;
        var upper = Directory.CreateTempSubdirectory().FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(lower, "etc"));
            Directory.CreateDirectory(Path.Combine(upper, "etc"));
            File.WriteAllText(Path.Combine(lower, "etc/passwd"), "app:x:5:5::/:/bin/sh\n");
            File.WriteAllText(Path.Combine(upper, "etc/passwd"), "app:x:1000:1001::/:/bin/sh\n");
            File.WriteAllText(Path.Combine(upper, "etc/group"), "staff:x:50:\n");
            Assert.Equal((1000L, 1001L), BundleBuilder.ResolveUser("app", [lower, upper]));
            Assert.Equal((1000L, 50L), BundleBuilder.ResolveUser("app:staff", [lower, upper]));
            Assert.Equal((7L, 8L), BundleBuilder.ResolveUser("7:8", [lower, upper]));
            Assert.Equal("security.user", Assert.Throws<StrataException>(() => BundleBuilder.ResolveUser("nobody", [lower, upper])).Field);
        }
        finally
        {
            Directory.Delete(lower, true);
            Directory.Delete(upper, true);
        }
    }
}
