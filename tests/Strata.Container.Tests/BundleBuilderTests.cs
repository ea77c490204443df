using System.Text.Json.Nodes;
using Strata.Contracts;
using Strata.Node.Drivers.Container;

namespace Strata.Container.Tests;

/// <summary>Fast, engine-free checks of the config.json rules.</summary>
public sealed class BundleBuilderTests
{
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
}
