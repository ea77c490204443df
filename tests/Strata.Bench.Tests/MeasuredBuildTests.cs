using Strata.Bench.Core;
using Strata.Testing;

namespace Strata.Bench.Tests;

/// <summary>Benchmarks measure the published build users run, and say which build they ran (#25).</summary>
public sealed class MeasuredBuildTests
{
    /// <summary>This test's own build of Strata.Bench.Core (Debug when run as the tests are).</summary>
    private static string OwnBuild => typeof(MeasuredBuild).Assembly.Location;

    [SkippableFact]
    public void Configuration_PublishedStratadAndCli_AreReleaseAndNative()
    {
        var stratad = TestEnvironment.RequireArtifact("stratad");
        var cli = TestEnvironment.RequireArtifact("strata");

        Assert.Equal("Release", MeasuredBuild.Configuration(stratad));
        Assert.Equal("native", MeasuredBuild.Configuration(cli));
        Assert.Contains($"stratad     {stratad} (Release)", MeasuredBuild.Describe(allowDebug: false, ("stratad", stratad), ("strata", cli)), StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Describe_ADebugBuild_IsRefusedNamingTheFix_UnlessAllowedAndThenNamed()
    {
        var configuration = MeasuredBuild.Configuration(OwnBuild);
        Skip.If(configuration == "Release", "the tests run from a Release build: there is no Debug build to refuse");

        var e = Assert.Throws<InvalidOperationException>(() => MeasuredBuild.Describe(allowDebug: false, ("stratad", OwnBuild)));
        Assert.Contains($"is a {configuration} build", e.Message, StringComparison.Ordinal);
        Assert.Contains("scripts/publish-native.sh", e.Message, StringComparison.Ordinal);
        Assert.Contains("--allow-debug-build", e.Message, StringComparison.Ordinal);
        Assert.Contains($"({configuration})", MeasuredBuild.Describe(allowDebug: true, ("stratad", OwnBuild)), StringComparison.Ordinal);
    }
}
