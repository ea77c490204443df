using Strata.Contracts;

namespace Strata.Control.Tests;

/// <summary>Limits beyond the host and NUL bytes are refused in the one spec validation every tier goes through.</summary>
public sealed class SpecValidatorBoundsTests
{
    private static readonly HostCapacity TwoCpus = new(2, 8L << 30);

    private static StrataException Invalid(InstanceSpec spec, HostCapacity? host = null) =>
        Assert.Throws<StrataException>(() => SpecValidator.Normalize(spec, host ?? TwoCpus));

    [Fact]
    public void Normalize_CpusAboveTheHost_NamesTheFieldAndTheHostsSize()
    {
        var e = Invalid(new InstanceSpec { Tier = "container", Resources = new ResourceSpec { Cpus = 1000 } });
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Equal("resources.cpus", e.Field);
        Assert.Contains("2 CPUs", e.Message, StringComparison.Ordinal);
        Assert.Equal("resources.cpus", Invalid(new InstanceSpec { Resources = new ResourceSpec { Cpus = 2.5 } }).Field);
    }

    [Fact]
    public void Normalize_MemoryAboveTheHost_NamesTheFieldAndTheHostsSize()
    {
        var e = Invalid(new InstanceSpec { Tier = "container", Resources = new ResourceSpec { MemoryBytes = 1L << 60 } });
        Assert.Equal("resources.memoryBytes", e.Field);
        Assert.Contains("8192 MiB", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Normalize_LimitsUpToTheHost_AreAccepted()
    {
        SpecValidator.Normalize(new InstanceSpec { Resources = new ResourceSpec { Cpus = 2, MemoryBytes = 8L << 30 } }, TwoCpus);
        // This host: its own size is always allowed.
        var host = HostCapacity.Current;
        SpecValidator.Normalize(new InstanceSpec { Resources = new ResourceSpec { Cpus = host.Cpus, MemoryBytes = Math.Min(host.MemoryBytes, 1L << 40) } });
        Assert.Equal("resources.cpus", Assert.Throws<StrataException>(() =>
            SpecValidator.Normalize(new InstanceSpec { Resources = new ResourceSpec { Cpus = host.Cpus + 1 } })).Field);
    }

    [Fact]
    public void HostCapacity_ReadsMemTotalInBytes()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "MemTotal:       24576000 kB\nMemFree:         1000 kB\n");
            Assert.Equal(24576000L * 1024, HostCapacity.ReadMemTotal(file));
            Assert.Equal(long.MaxValue, HostCapacity.ReadMemTotal(file + ".missing"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    public static TheoryData<string, InstanceSpec> NulSpecs() => new()
    {
        { "command[1]", new InstanceSpec { Command = ["sh", "-c\0rm -rf /"] } },
        { "args[0]", new InstanceSpec { Args = ["a\0b"] } },
        { "env.KEY", new InstanceSpec { Env = new Dictionary<string, string> { ["KEY"] = "value\0LD_PRELOAD=/x" } } },
        { "workingDir", new InstanceSpec { WorkingDir = "/srv\0/x" } },
        { "image", new InstanceSpec { Image = "busybox\0" } },
        { "mounts[0].target", new InstanceSpec { Mounts = [new MountSpec { Source = "/data", Target = "/d\0" }] } },
    };

    [Theory]
    [MemberData(nameof(NulSpecs))]
    public void Normalize_NulByte_IsRefusedNamingTheField(string field, InstanceSpec spec)
    {
        var e = Invalid(spec);
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Equal(field, e.Field);
        Assert.Contains("NUL", e.Message, StringComparison.Ordinal);
    }
}
