using System.Text.Json;
using Strata.Contracts;
using Strata.Daemon.DockerApi;
using Strata.Testing;

namespace Strata.Daemon.Tests;

/// <summary>
/// <c>HostConfig.ConsoleSize</c> ([height, width], sent by the 28.x CLI with <c>-t</c>) becomes the instance's
/// <see cref="InstanceSpec.TerminalSize"/> in either order of the fields; without a terminal, or empty, it is dropped.
/// </summary>
public sealed class DockerConsoleSizeTests
{
    [Theory]
    [InlineData("""{"Image": "busybox", "Tty": true, "HostConfig": {"ConsoleSize": [29, 93]}}""", 93, 29)]
    [InlineData("""{"HostConfig": {"ConsoleSize": [29, 93]}, "Tty": true, "Image": "busybox"}""", 93, 29)]
    [InlineData("""{"Image": "busybox", "HostConfig": {"ConsoleSize": [29, 93]}}""", 0, 0)]
    [InlineData("""{"Image": "busybox", "Tty": true, "HostConfig": {"ConsoleSize": [0, 0]}}""", 0, 0)]
    public void ConsoleSize_IsTheTerminalsSize_OnlyWithATerminal(string body, int columns, int rows)
    {
        using var create = JsonDocument.Parse(body);
        using var dir = new TempDirectory("consolesize");
        var spec = DockerContainerSpec.Parse(create.RootElement, "c", new DockerVolumes(dir.Path), "default", null, n => n).Spec;
        Assert.Equal(columns == 0 ? null : new TerminalSize { Columns = (ushort)columns, Rows = (ushort)rows }, spec.TerminalSize);
    }
}
