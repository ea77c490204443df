using System.Diagnostics;

namespace Strata.Testing;

/// <summary>A minimal root filesystem from the host's busybox-static: every applet linked, root and app users.</summary>
public static class BusyboxRootfs
{
    public static void Build(string busybox, string rootfs)
    {
        var bin = Path.Combine(rootfs, "bin");
        Directory.CreateDirectory(bin);
        foreach (var d in new[] { "proc", "sys", "dev", "tmp", "etc", "root", "home/app" })
        {
            Directory.CreateDirectory(Path.Combine(rootfs, d));
        }
        File.Copy(busybox, Path.Combine(bin, "busybox"), overwrite: true);
        var list = Process.Start(new ProcessStartInfo(busybox, "--list") { RedirectStandardOutput = true })!;
        foreach (var applet in list.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (applet != "busybox" && !File.Exists(Path.Combine(bin, applet)))
            {
                File.CreateSymbolicLink(Path.Combine(bin, applet), "busybox");
            }
        }
        list.WaitForExit();
        File.WriteAllText(Path.Combine(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n");
        File.WriteAllText(Path.Combine(rootfs, "etc/group"), "root:x:0:\napp:x:1000:\n");
    }
}
