using System.Runtime.InteropServices;
using Strata.Node.Cgroups;
using Strata.Testing;
using Xunit;

namespace Strata.Node.Tests.Cgroups;

public sealed class CgroupFavorDynModsTests
{
    private const string Hybrid = """
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """;

    private const string UnifiedWithDelegation = """
        22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
        26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
        99 1 0:23 / /srv/my\040cgroup rw,relatime - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
        """;

    [Fact]
    public void Find_HybridHost_IsTheUnifiedMountWithoutTheOption()
    {
        var mount = CgroupFavorDynMods.Find(Hybrid)!;
        Assert.Equal("/sys/fs/cgroup/unified", mount.MountPoint);
        Assert.False(mount.FavorsDynMods);
        Assert.Equal("favordynmods", CgroupFavorDynMods.RemountData(mount));
        Assert.Equal(32UL | (1UL << 21), CgroupFavorDynMods.RemountFlags(mount)); // MS_REMOUNT, relatime kept
    }

    [Fact]
    public void Remount_UnifiedHost_KeepsNsdelegateRecursiveProtAndTheMountFlags()
    {
        var mount = CgroupFavorDynMods.Find(UnifiedWithDelegation)!;
        Assert.Equal("/sys/fs/cgroup", mount.MountPoint);
        // A cgroup2 remount drops every option it is not given: nsdelegate and memory_recursiveprot must be passed again.
        Assert.Equal("nsdelegate,memory_recursiveprot,favordynmods", CgroupFavorDynMods.RemountData(mount));
        Assert.Equal(32UL | 2 | 4 | 8 | (1UL << 21), CgroupFavorDynMods.RemountFlags(mount)); // nosuid, nodev, noexec stay
    }

    [Fact]
    public void Find_EscapedMountPoint_IsUnescaped_AndTheOptionIsSeenWhenOn()
    {
        var mount = CgroupFavorDynMods.Find("99 1 0:23 / /srv/my\\040cgroup rw - cgroup2 cgroup2 rw,favordynmods\n")!;
        Assert.Equal("/srv/my cgroup", mount.MountPoint);
        Assert.True(mount.FavorsDynMods);
        Assert.Equal("favordynmods", CgroupFavorDynMods.RemountData(mount)); // never twice
    }

    [Fact]
    public void Find_V1OnlyHost_IsNull()
    {
        Assert.Null(CgroupFavorDynMods.Find("32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"));
    }

    [SkippableFact]
    public void Enable_OnAHostWhereItIsOff_TurnsItOn_AndKeepsTheOtherOptions()
    {
        TestEnvironment.Require(TestEnvironment.IsRoot, "remounting the cgroup2 file system needs root");
        var before = CgroupFavorDynMods.Find(File.ReadAllText("/proc/self/mountinfo"));
        TestEnvironment.Require(before is not null, "no cgroup2 mount on this host");

        // Off first (a daemon may have turned it on already): the same remount, without the option.
        var without = string.Join(',', before!.SuperOptions.Where(o => o is not ("rw" or "ro" or "favordynmods")));
        var off = Remount(null, before.MountPoint, null, CgroupFavorDynMods.RemountFlags(before), without);
        TestEnvironment.Require(off == 0, $"this kernel refuses a cgroup2 remount (errno {Marshal.GetLastPInvokeError()})");
        Assert.False(CgroupFavorDynMods.IsEnabled());

        var result = CgroupFavorDynMods.Enable();
        Assert.True(result.Enabled, result.Detail);
        Assert.Contains("turned on", result.Detail, StringComparison.Ordinal);
        var after = CgroupFavorDynMods.Find(File.ReadAllText("/proc/self/mountinfo"))!;
        Assert.True(after.FavorsDynMods);
        Assert.Equal(before.MountOptions, after.MountOptions);
        Assert.Equal(before.SuperOptions.Where(o => o != "favordynmods"), after.SuperOptions.Where(o => o != "favordynmods"));

        var again = CgroupFavorDynMods.Enable();
        Assert.True(again.Enabled);
        Assert.Contains("already on", again.Detail, StringComparison.Ordinal);
    }

    [DllImport("libc", EntryPoint = "mount", SetLastError = true)]
    private static extern int Remount(string? source, string target, string? fsType, ulong flags, string data);
}
