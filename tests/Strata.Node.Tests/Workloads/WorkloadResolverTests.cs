using Strata.Contracts;
using Strata.Node.Images;
using Strata.Node.Workloads;
using Strata.Testing;

namespace Strata.Node.Tests.Workloads;

/// <summary>The resolver's own rules, engine-free (the per-tier parity is <see cref="WorkloadParityTests"/>).</summary>
public sealed class WorkloadResolverTests : IDisposable
{
    private static readonly ImageConfig Image = new() { Entrypoint = ["/entry"], Cmd = ["default"], Env = ["PATH=/img/bin", "A=image", "B=image"], WorkingDir = "/srv" };
    private readonly TempDirectory _temp = new("strata-resolver");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Argv_DockersMerge()
    {
        Assert.Equal(["/entry", "default"], WorkloadResolver.Argv(null, null, Image));
        Assert.Equal(["/entry", "default"], WorkloadResolver.Argv(null, [], Image));
        Assert.Equal(["/entry", "x", "y"], WorkloadResolver.Argv(null, ["x", "y"], Image));
        Assert.Equal(["/bin/sh"], WorkloadResolver.Argv(["/bin/sh"], null, Image));
        Assert.Equal(["/bin/sh", "-c", "true"], WorkloadResolver.Argv(["/bin/sh"], ["-c", "true"], Image));
        Assert.Equal(["default"], WorkloadResolver.Argv([], null, Image));
        Assert.Equal(["x"], WorkloadResolver.Argv([], ["x"], Image));
        Assert.Equal([], WorkloadResolver.Argv([""], null, Image));
        Assert.Equal(["x"], WorkloadResolver.Argv([""], ["x"], Image));
        // No image (the process tier): command ++ args.
        Assert.Equal(["sh", "-c", "x"], WorkloadResolver.Argv(["sh"], ["-c", "x"], new ImageConfig()));
    }

    [Fact]
    public void Environment_ImageThenStrataThenSpec_InOrder()
    {
        var w = WorkloadResolver.Resolve(new InstanceSpec { Image = "img", Env = new Dictionary<string, string> { ["B"] = "spec", ["C"] = "spec" } }, "web", Image, [], "container");
        Assert.Equal(["PATH=/img/bin", "A=image", "B=spec", "HOSTNAME=web", "STRATA_INSTANCE=web", "C=spec", "HOME=/"], w.EnvEntries());
    }

    [Fact]
    public void Users_NamesFromTheTopmostLayer()
    {
        var lower = _temp.Combine("lower");
        var upper = _temp.Combine("upper");
        Directory.CreateDirectory(Path.Combine(lower, "etc"));
        Directory.CreateDirectory(Path.Combine(upper, "etc"));
        File.WriteAllText(Path.Combine(lower, "etc/passwd"), "app:x:5:5::/old:/bin/sh\n");
        File.WriteAllText(Path.Combine(upper, "etc/passwd"), "app:x:1000:1001::/home/app:/bin/sh\n");
        File.WriteAllText(Path.Combine(upper, "etc/group"), "staff:x:50:\n");
        Assert.Equal((1000L, 1001L), ImageUsers.Resolve("app", [lower, upper]));
        Assert.Equal((1000L, 50L), ImageUsers.Resolve("app:staff", [lower, upper]));
        Assert.Equal((7L, 8L), ImageUsers.Resolve("7:8", [lower, upper]));
        Assert.Equal("/home/app", ImageUsers.HomeOf(1000, [lower, upper]));
        Assert.Equal("/", ImageUsers.HomeOf(5, [lower, upper]));
        Assert.Equal("security.user", Assert.Throws<StrataException>(() => ImageUsers.Resolve("nobody", [lower, upper])).Field);
        Assert.Equal("user", Assert.Throws<StrataException>(() => ImageUsers.Resolve("a:b:c", [lower, upper], "user")).Field);
    }

    [Fact]
    public void Users_ASymlinkedPasswdIsNotFollowed()
    {
        var layer = _temp.Combine("link");
        Directory.CreateDirectory(Path.Combine(layer, "etc"));
        File.CreateSymbolicLink(Path.Combine(layer, "etc/passwd"), "/etc/passwd");
        Assert.Equal("/", ImageUsers.HomeOf(0, [layer])); // the host's root entry would say /root
        Assert.Throws<StrataException>(() => ImageUsers.Resolve("root", [layer]));
    }
}
