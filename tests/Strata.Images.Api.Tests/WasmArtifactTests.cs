using Strata.Contracts;
using Strata.Images.Oci;
using Strata.Images.Tests;
using Xunit;

namespace Strata.Images.Api.Tests;

/// <summary>A Wasm module shipped as an OCI artifact: imported into the store, then run by name on the wasm tier.</summary>
public sealed class WasmArtifactTests
{
    /// <summary>A hand-assembled WASI command: <c>_start</c> calls <c>proc_exit(7)</c>.</summary>
    private static readonly byte[] Exit7 =
    [
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,                   // magic, version 1
        0x01, 0x08, 0x02, 0x60, 0x01, 0x7f, 0x00, 0x60, 0x00, 0x00,       // types: (i32)->(), ()->()
        0x02, 0x24, 0x01, 0x16, .. "wasi_snapshot_preview1"u8, 0x09, .. "proc_exit"u8, 0x00, 0x00, // import func 0
        0x03, 0x02, 0x01, 0x01,                                           // func 1 has type 1
        0x05, 0x03, 0x01, 0x00, 0x01,                                     // one memory, 1 page
        0x07, 0x13, 0x02, 0x06, .. "memory"u8, 0x02, 0x00, 0x06, .. "_start"u8, 0x00, 0x01, // exports
        0x0a, 0x08, 0x01, 0x06, 0x00, 0x41, 0x07, 0x10, 0x00, 0x0b,       // _start: i32.const 7; call 0
    ];

    [Fact]
    public async Task Run_WasmArtifactByName_PicksTheWasmTierAndRunsTheModule()
    {
        await using var api = await ApiFixture.StartAsync();
        var path = api.Dir.Combine("exit7.tar");
        ArchiveBuilder.OciLayout(path, "{}"u8.ToArray(), [(Exit7, MediaTypes.Wasm)], "example.com/wasm/exit7:1", MediaTypes.WasmConfig);
        await using (var file = File.OpenRead(path))
        {
            Assert.Equal("example.com/wasm/exit7:1", Assert.Single((await api.Client.ImportImageAsync(file)).Items).Name);
        }

        StreamFrame? first = null;
        WaitResult? exit = null;
        await foreach (var frame in api.Client.RunAttachedAsync(new InstanceSpec { Name = "artifact", Image = "example.com/wasm/exit7:1" }))
        {
            first ??= frame;
            exit = frame.Exit ?? exit;
        }
        Assert.Equal("wasm", first!.Instance!.Tier); // no tier given: the store says it is a Wasm artifact
        Assert.Equal(7, exit!.ExitCode);
    }

    [Fact]
    public async Task Run_RootfsImageOnTheWasmTier_IsRefusedNamingTheImage()
    {
        await using var api = await ApiFixture.StartAsync();
        await api.Client.BuildBaseImageAsync("busybox");
        var e = await Assert.ThrowsAsync<Strata.Client.StrataApiException>(() =>
            api.Client.CreateAsync(new InstanceSpec { Name = "nope", Tier = "wasm", Image = "busybox" }));
        Assert.Equal(400, e.Status);
        Assert.Equal("image", e.Field);
        Assert.Contains("not a Wasm artifact", e.Message, StringComparison.Ordinal);
    }
}
