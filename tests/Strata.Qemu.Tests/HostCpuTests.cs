namespace Strata.Qemu.Tests;

/// <summary>The host CPU a cluster node publishes: /proc/cpuinfo read, and the QEMU models it runs asked of a real QEMU.</summary>
public sealed class HostCpuTests
{
    private const string CpuInfo = """
        processor	: 0
        vendor_id	: AuthenticAMD
        model name	: AMD EPYC 7502 32-Core Processor
        flags		: sse2 fpu avx2 sse

        processor	: 1
        vendor_id	: GenuineIntel
        model name	: never read
        flags		: fpu

        """;

    [Fact]
    public void Parse_ReadsTheFirstProcessor_FlagsDigestIgnoresOrder()
    {
        var cpu = HostCpu.Parse(CpuInfo);
        Assert.Equal("AuthenticAMD", cpu.Vendor);
        Assert.Equal("AMD EPYC 7502 32-Core Processor", cpu.ModelName);
        Assert.Equal(HostCpu.Parse("flags : avx2 fpu sse sse2\n").FlagsSha256, cpu.FlagsSha256);
        Assert.NotEqual(HostCpu.Parse("flags : avx2 fpu sse\n").FlagsSha256, cpu.FlagsSha256);
        Assert.NotNull(HostCpu.Read().Vendor); // this host's /proc/cpuinfo
    }

    [Fact]
    public void ParseUsableModels_KeepsModelsWithoutUnavailableFeatures_NotHostMaxOrBase()
    {
        const string qmp = """
            {"QMP": {"version": {}}}
            {"return": {}}
            {"return": [{"name": "max", "unavailable-features": [], "migration-safe": false}, {"name": "host", "unavailable-features": ["kvm"], "migration-safe": false}, {"name": "base", "unavailable-features": [], "migration-safe": true}, {"name": "Haswell", "unavailable-features": [], "migration-safe": true}, {"name": "Skylake-Server", "unavailable-features": ["avx512f"], "migration-safe": true}, {"name": "qemu64", "unavailable-features": [], "migration-safe": true}]}
            """;
        Assert.Equal(["Haswell", "qemu64"], HostCpu.ParseUsableModels(qmp));
    }

    [QemuFact]
    public async Task QueryUsableModels_RealQemuUnderTcg_ListsQemusDefaultModel()
    {
        var models = await HostCpu.QueryUsableModelsAsync("qemu-system-x86_64", "tcg", TimeSpan.FromSeconds(60), CancellationToken.None);
        Assert.Contains("qemu64", models);
        Assert.DoesNotContain("host", models);
        Assert.DoesNotContain("max", models);
    }
}
