using System.Diagnostics;
using System.Text;
using Strata.Contracts;
using Strata.Qemu.Guest;

namespace Strata.Qemu.Tests;

public sealed class GuestWorkloadTests
{
    [Fact]
    public void ToKernelArgument_IsBase64OfScript_WithNoSpaces()
    {
        var w = new GuestWorkload(["echo", "a b"]);
        var arg = w.ToKernelArgument();
        Assert.StartsWith("strata.workload=", arg, StringComparison.Ordinal);
        Assert.DoesNotContain(' ', arg);
        Assert.Equal(w.ToScript(), Encoding.UTF8.GetString(Convert.FromBase64String(arg["strata.workload=".Length..])));
    }

    [Fact]
    public async Task ToScript_RunByBusyboxSh_PassesArgvEnvAndWorkdirExactly()
    {
        // The guest runs this script with busybox sh; run it the same way here.
        if (!File.Exists("/bin/busybox"))
        {
            Assert.False(TestEnvironment.IsCi, "busybox-static is missing");
            return;
        }
        using var dir = new TempDir();
        var tricky = new[] { "it's", "$HOME", "a  b", "*", "\"q\"", "" };
        var w = new GuestWorkload(
            ["/bin/busybox", "sh", "-c", "printf '[%s]' \"$@\"; printf '{%s}{%s}' \"$GREETING\" \"$(pwd)\"", "sh", .. tricky],
            new Dictionary<string, string> { ["GREETING"] = "hello 'world' $x" },
            dir.Path);
        var script = dir.Combine("w.sh");
        await File.WriteAllTextAsync(script, w.ToScript());
        var psi = new ProcessStartInfo("/bin/busybox") { RedirectStandardOutput = true, WorkingDirectory = "/" };
        psi.ArgumentList.Add("sh");
        psi.ArgumentList.Add(script);
        using var p = Process.Start(psi)!;
        var output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();

        Assert.Equal("[it's][$HOME][a  b][*][\"q\"][]{hello 'world' $x}{" + dir.Path + "}", output);
    }

    [Fact]
    public void ToKernelArgument_TooLong_ThrowsInvalidArgument()
    {
        var w = new GuestWorkload(["echo", new string('x', 2000)]);
        var e = Assert.Throws<StrataException>(() => w.ToKernelArgument());
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Contains("command line", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ToScript_BadEnvName_ThrowsInvalidArgument()
    {
        var w = new GuestWorkload(["true"], new Dictionary<string, string> { ["A;rm"] = "x" });
        Assert.Equal(ErrorKind.InvalidArgument, Assert.Throws<StrataException>(() => w.ToScript()).Kind);
    }
}
