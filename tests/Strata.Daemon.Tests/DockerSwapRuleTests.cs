using System.Text.Json;
using Strata.Contracts;
using Strata.Daemon.DockerApi;
using Strata.Testing;

namespace Strata.Daemon.Tests;

/// <summary>
/// The one swap rule of <c>docker create</c> and <c>docker update</c>: <c>--memory-swap</c> unset, or equal to
/// <c>--memory</c> (in either order of the fields), is taken; any other positive value is refused naming
/// <c>HostConfig.MemorySwap</c> and the fix, by both parsers alike.
/// </summary>
public sealed class DockerSwapRuleTests
{
    public static TheoryData<string, bool> Cases => new()
    {
        { """{"Memory": 67108864, "MemorySwap": 67108864}""", true },
        { """{"MemorySwap": 67108864, "Memory": 67108864}""", true },
        { """{"Memory": 67108864, "MemorySwap": 0}""", true },
        { """{"Memory": 67108864, "MemorySwap": -1}""", true },
        { """{"Memory": 67108864}""", true },
        { """{"Memory": 67108864, "MemorySwap": 268435456}""", false },
        { """{"MemorySwap": 268435456, "Memory": 67108864}""", false },
        { """{"NanoCpus": 500000000, "MemorySwap": 67108864}""", false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void CreateAndUpdate_TakeOrRefuseTheSameSwap(string host, bool taken)
    {
        using var hostConfig = JsonDocument.Parse(host);
        using var create = JsonDocument.Parse($$"""{"Image": "busybox", "HostConfig": {{host}}}""");
        using var dir = new TempDirectory("swaprule");
        var volumes = new DockerVolumes(dir.Path);

        var created = Record.Exception(() => DockerContainerSpec.Parse(create.RootElement, "c", volumes, "default", null, n => n));
        var updated = Record.Exception(() => DockerContainerSpec.ParseUpdate(hostConfig.RootElement));

        foreach (var refusal in new[] { created, updated })
        {
            if (taken)
            {
                Assert.Null(refusal);
                continue;
            }
            var e = Assert.IsType<StrataException>(refusal);
            Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
            Assert.Equal("HostConfig.MemorySwap", e.Field);
            Assert.Contains("drop --memory-swap (or make it equal to --memory)", e.Message, StringComparison.Ordinal);
        }
    }
}
