using Strata.Contracts;

namespace Strata.Control.Tests;

public sealed class SpecValidatorTests
{
    private static StrataException Invalid(InstanceSpec spec) => Assert.Throws<StrataException>(() => SpecValidator.Normalize(spec));

    [Theory]
    [InlineData("web")]
    [InlineData("a")]
    [InlineData("web-1")]
    [InlineData("0abc")]
    public void ValidateName_DnsLabels_AreAccepted(string name) => SpecValidator.ValidateName(name);

    [Theory]
    [InlineData("web/1")]
    [InlineData("Web")]
    [InlineData("web-")]
    [InlineData("we_b")]
    [InlineData("")]
    public void ValidateName_Others_AreRefusedNamingTheField(string name)
    {
        var e = Assert.Throws<StrataException>(() => SpecValidator.ValidateName(name));
        Assert.Equal("name", e.Field);
    }

    [Fact]
    public void Normalize_EmptyCommandElement_OnlyAsDockersClearedEntrypoint()
    {
        // [""] is --entrypoint "" (docs/workload.md); an empty string among others is a mistake.
        Assert.Equal([""], SpecValidator.Normalize(new InstanceSpec { Command = [""], Args = ["echo"] }).Command);
        Assert.Empty(SpecValidator.Normalize(new InstanceSpec { Command = [] }).Command!);
        Assert.Equal("command", Invalid(new InstanceSpec { Command = ["sh", ""] }).Field);
    }

    [Fact]
    public void Normalize_TerminalSize_OnlyWithATerminal_AndNotEmpty()
    {
        var size = new TerminalSize { Columns = 93, Rows = 29 };
        Assert.Equal(size, SpecValidator.Normalize(new InstanceSpec { Tty = true, TerminalSize = size }).TerminalSize);
        var noTerminal = Invalid(new InstanceSpec { TerminalSize = size });
        Assert.Equal("terminalSize", noTerminal.Field);
        Assert.Contains("set tty: true", noTerminal.Message, StringComparison.Ordinal);
        Assert.Equal("terminalSize", Invalid(new InstanceSpec { Tty = true, TerminalSize = size with { Rows = 0 } }).Field);
    }

    [Fact]
    public void ValidateName_64Characters_IsTooLong() =>
        Assert.Throws<StrataException>(() => SpecValidator.ValidateName(new string('a', 64)));

    [Theory]
    [InlineData(-1L)]
    [InlineData(0L)]
    [InlineData(1024L)]
    public void Normalize_BadMemory_NamesTheField(long bytes) =>
        Assert.Equal("resources.memoryBytes", Invalid(new InstanceSpec { Resources = new ResourceSpec { MemoryBytes = bytes } }).Field);

    [Theory]
    [InlineData(0.0)]
    [InlineData(-2.0)]
    [InlineData(double.NaN)]
    public void Normalize_BadCpus_NamesTheField(double cpus) =>
        Assert.Equal("resources.cpus", Invalid(new InstanceSpec { Resources = new ResourceSpec { Cpus = cpus } }).Field);

    [Fact]
    public void Normalize_BadPids_NamesTheField() =>
        Assert.Equal("resources.pids", Invalid(new InstanceSpec { Resources = new ResourceSpec { Pids = 0 } }).Field);

    [Theory]
    [InlineData("sometimes")]
    [InlineData("on-failure:0")]
    [InlineData("on-failure:x")]
    public void Normalize_BadRestartPolicy_NamesTheField(string policy) =>
        Assert.Equal("restart", Invalid(new InstanceSpec { Restart = policy }).Field);

    [Fact]
    public void Normalize_BadEnvName_NamesTheKey() =>
        Assert.Equal("env.1X", Invalid(new InstanceSpec { Env = new Dictionary<string, string> { ["1X"] = "v" } }).Field);

    [Fact]
    public void Normalize_RelativeWorkdir_IsRefused() =>
        Assert.Equal("workingDir", Invalid(new InstanceSpec { WorkingDir = "tmp" }).Field);

    [Fact]
    public void Normalize_AutoRemoveWithRestart_IsAContradiction() =>
        Assert.Equal("autoRemove", Invalid(new InstanceSpec { AutoRemove = true, Restart = "always" }).Field);

    [Fact]
    public void Normalize_Defaults_RestartIsNo() => Assert.Equal("no", SpecValidator.Normalize(new InstanceSpec()).Restart);

    [Theory]
    [InlineData("auto", null)]
    [InlineData(null, null)]
    [InlineData("process", Tier.Process)]
    [InlineData("vm", Tier.Vm)]
    public void ParseTier_KnownNames(string? text, Tier? expected) => Assert.Equal(expected, SpecValidator.ParseTier(text, allowFake: false));

    [Fact]
    public void ParseTier_FakeIsHiddenUnlessEnabled()
    {
        Assert.Equal("tier", Assert.Throws<StrataException>(() => SpecValidator.ParseTier("fake", allowFake: false)).Field);
        Assert.Equal(Tier.Fake, SpecValidator.ParseTier("fake", allowFake: true));
    }

    [Theory]
    [InlineData("no", RestartMode.No, 0)]
    [InlineData("always", RestartMode.Always, 0)]
    [InlineData("on-failure", RestartMode.OnFailure, 0)]
    [InlineData("on-failure:3", RestartMode.OnFailure, 3)]
    public void RestartPolicy_Parses(string text, RestartMode mode, int max)
    {
        Assert.True(RestartPolicy.TryParse(text, out var p));
        Assert.Equal(mode, p.Mode);
        Assert.Equal(max, p.MaxRetries);
        Assert.Equal(text, p.ToString());
    }

    [Fact]
    public void RestartPolicy_Decisions()
    {
        RestartPolicy.TryParse("on-failure:2", out var p);
        Assert.True(p.ShouldRestart(1, 0, stoppedByUser: false));
        Assert.False(p.ShouldRestart(1, 2, stoppedByUser: false));
        Assert.False(p.ShouldRestart(0, 0, stoppedByUser: false));
        RestartPolicy.TryParse("always", out var a);
        Assert.True(a.ShouldRestart(0, 100, stoppedByUser: false));
        Assert.False(a.ShouldRestart(0, 0, stoppedByUser: true));
    }
}
