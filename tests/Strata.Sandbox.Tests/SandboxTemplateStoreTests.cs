using Strata.Contracts.Host;
using Strata.Node.Drivers.Sandbox.Templates;
using Strata.Qemu.Templates;
using Strata.Testing;

namespace Strata.Sandbox.Tests;

/// <summary>
/// The template store without QEMU (the save is a stand-in that writes the files QEMU would, by the umask): what it
/// keeps is private like the rest of the data root (docs/security.md), and its log lines name the tier whose store it is.
/// </summary>
public sealed class SandboxTemplateStoreTests : IDisposable
{
    private readonly TempDirectory _temp = new("strata-tplstore");

    private static async Task<SandboxTemplateInfo> FakeSaveAsync(string temp, string key, CancellationToken ct)
    {
        foreach (var name in new[] { GuestTemplate.MemoryFileName, GuestTemplate.StateFileName })
        {
            await File.WriteAllTextAsync(Path.Combine(temp, name), name, ct);
            File.SetUnixFileMode(Path.Combine(temp, name), (UnixFileMode)Convert.ToInt32("644", 8));
        }
        var info = new SandboxTemplateInfo { Key = key, Image = "sha256:aa", StateSha256 = SandboxTemplateStore.Sha256(Path.Combine(temp, GuestTemplate.StateFileName)), RamInState = true };
        await SandboxTemplateStore.WriteManifestAsync(temp, info, ct);
        return info;
    }

    [Theory]
    [InlineData("sandbox")]
    [InlineData("vm")]
    public async Task SavedTemplate_IsPrivate_AndItsLogLinesNameTheTier(string tier)
    {
        var logger = new RecordingLogger<SandboxTemplateStoreTests>();
        var store = new SandboxTemplateStore(_temp.Combine(tier + "-templates"), logger, tier);
        var key = new string('a', 32);

        var info = await store.CreateAsync(key, "sha256:aa", (temp, ct) => FakeSaveAsync(temp, key, ct), CancellationToken.None);

        Assert.Equal(PrivatePaths.DirectoryMode, File.GetUnixFileMode(store.Root));
        Assert.Equal(PrivatePaths.DirectoryMode, File.GetUnixFileMode(info.Directory));
        var files = Directory.GetFiles(info.Directory);
        Assert.Equal(3, files.Length);
        Assert.All(files, f => Assert.Equal(PrivatePaths.FileMode, File.GetUnixFileMode(f)));
        Assert.StartsWith(tier + " template " + key, Assert.Single(logger.WithId(3420)).Message, StringComparison.Ordinal);

        store.Discard(key, "a test");
        Assert.StartsWith(tier + " template " + key + " discarded", Assert.Single(logger.WithId(3421)).Message, StringComparison.Ordinal);
    }

    public void Dispose() => _temp.Dispose();
}
