using Strata.Contracts;

namespace Strata.Control.Tests;

public sealed class SizesTests
{
    [Theory]
    [InlineData("4096", 4096L)]
    [InlineData("64K", 64L << 10)]
    [InlineData("64M", 64L << 20)]
    [InlineData("64Mi", 64L << 20)]
    [InlineData("64MiB", 64L << 20)]
    [InlineData("1G", 1L << 30)]
    [InlineData(" 2g ", 2L << 30)]
    public void Parse_KnownForms(string text, long bytes) => Assert.Equal(bytes, Sizes.Parse("--memory", text));

    [Theory]
    [InlineData("")]
    [InlineData("lots")]
    [InlineData("12X")]
    [InlineData("-5M")]
    [InlineData("99999999999T")]
    public void Parse_Others_AreRefusedNamingTheField(string text) =>
        Assert.Equal("--memory", Assert.Throws<StrataException>(() => Sizes.Parse("--memory", text)).Field);

    [Fact]
    public void Parse_AllowNegative_PassesTheSignThrough() => Assert.Equal(-(5L << 20), Sizes.Parse("--memory", "-5M", allowNegative: true));
}
