using System.Net;
using System.Text.Json;
using Strata.Contracts;

namespace Strata.DockerApi.Tests;

/// <summary>The real docker CLI drives Strata through its Docker API socket.</summary>
[Collection(DockerCollection.Name)]
public sealed class DockerCliTests(DockerFixture fx)
{
    [SkippableFact]
    public async Task Ping_Version_Info_NameStrata()
    {
        fx.RequireEngine();
        var version = await fx.OkAsync("version --format '{{.Server.Version}} {{.Server.APIVersion}}'");
        Assert.Contains("1.43", version);
        var info = await fx.OkAsync("info --format '{{.OperatingSystem}} {{json .Runtimes}}'");
        Assert.Contains("Strata", info);
        Assert.Contains("strata-sandbox", info + (fx.Instances.Drivers.IsAvailable(Tier.Sandbox) ? "" : "strata-sandbox"));
        using var http = fx.Http();
        Assert.Equal("OK", await http.GetStringAsync("/_ping"));
        Assert.Equal("OK", await http.GetStringAsync("/v1.41/_ping"));
    }

    [SkippableFact]
    public async Task Run_Rm_PassesOutputAndExitCode_AndLeavesNothing()
    {
        fx.RequireEngine();
        Assert.Equal("hi\n", await fx.OkAsync("run --rm busybox echo hi"));

        var name = fx.Name("exit");
        var (code, stdout, stderr) = await fx.RunAsync($"run --rm --name {name} busybox sh -c 'echo out; echo err >&2; exit 3'");
        Assert.Equal(3, code);
        Assert.Equal("out\n", stdout);
        Assert.Contains("err", stderr);
        Assert.DoesNotContain(fx.Instances.List("default"), r => r.Name == name);
    }

    [SkippableFact]
    public async Task Detached_Ps_Port_Logs_Exec_Cp_Stop_Rm()
    {
        fx.RequireEngine();
        var name = fx.Name("web");
        var port = DockerFixture.FreePort();
        var id = (await fx.OkAsync($"run -d --name {name} -p 127.0.0.1:{port}:8080 busybox sh -c 'mkdir -p /www && echo hello-web > /www/index.html && echo started && exec httpd -f -p 8080 -h /www'")).Trim();
        Assert.Equal(64, id.Length);

        // The container is a Strata instance of the container tier, under the same name.
        var instance = Assert.Single(fx.Instances.List("default"), r => r.Name == name);
        Assert.Equal(Tier.Container, instance.Tier);

        var ps = await fx.OkAsync($"ps --filter name={name} --format '{{{{.ID}}}} {{{{.Names}}}} {{{{.Ports}}}} {{{{.Status}}}}'");
        Assert.Contains(id[..12], ps);
        Assert.Contains($"127.0.0.1:{port}->8080/tcp", ps);
        Assert.Contains("Up", ps);

        var page = await DockerFixture.GetPageAsync(port, "the published port");
        Assert.Equal("hello-web\n", page);

        Assert.Contains("started", await fx.OkAsync($"logs {name}"));
        Assert.Equal($"{port}", (await fx.OkAsync($"inspect -f '{{{{(index (index .NetworkSettings.Ports \"8080/tcp\") 0).HostPort}}}}' {name}")).Trim());

        var (execCode, execOut, _) = await fx.RunAsync($"exec {name} sh -c 'echo in-exec; exit 5'");
        Assert.Equal(5, execCode);
        Assert.Equal("in-exec\n", execOut);
        Assert.Equal("piped\n", await fx.OkAsync($"exec -i {name} cat", input: "piped\n"));

        var file = Path.Combine(fx.ConfigDirectory, "copied-in.txt");
        await File.WriteAllTextAsync(file, "from the host\n");
        await fx.OkAsync($"cp {file} {name}:/tmp/");
        Assert.Equal("from the host\n", await fx.OkAsync($"exec {name} cat /tmp/copied-in.txt"));
        var back = Path.Combine(fx.ConfigDirectory, "copied-out.html");
        await fx.OkAsync($"cp {name}:/www/index.html {back}");
        Assert.Equal("hello-web\n", await File.ReadAllTextAsync(back));

        await fx.OkAsync($"stop -t 1 {name}");
        Assert.Contains("Exited", await fx.OkAsync($"ps -a --filter name={name} --format '{{{{.Status}}}}'"));
        await fx.OkAsync($"rm {name}");
        Assert.DoesNotContain(name, await fx.OkAsync("ps -a --format '{{.Names}}'"));
        Assert.DoesNotContain(fx.Instances.List("default"), r => r.Name == name);
    }

    [SkippableFact]
    public async Task LogsFollow_EndsWhenTheContainerExits_WithTimestampsAndTail()
    {
        fx.RequireEngine();
        var name = fx.Name("lines");
        await fx.OkAsync($"run -d --name {name} busybox sh -c 'for i in 1 2 3; do echo line$i; sleep 0.3; done'");
        var followed = await fx.OkAsync($"logs -f {name}");
        Assert.Equal("line1\nline2\nline3\n", followed);
        Assert.Equal("line3\n", await fx.OkAsync($"logs --tail 1 {name}"));
        var stamped = (await fx.OkAsync($"logs -t {name}")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.All(stamped, l => Assert.True(DateTimeOffset.TryParse(l.Split(' ')[0], out _), l));
        Assert.Equal("0", (await fx.OkAsync($"wait {name}")).Trim());
        await fx.OkAsync($"rm {name}");
    }

    [SkippableFact]
    public async Task Network_ContainersReachEachOtherByName()
    {
        fx.RequireEngine();
        var network = fx.Name("net");
        var server = fx.Name("srv");
        await fx.OkAsync($"network create {network}");
        try
        {
            Assert.Contains(network, await fx.OkAsync("network ls --format '{{.Name}}'"));
            await fx.OkAsync($"run -d --name {server} --network {network} busybox sh -c 'mkdir -p /w && echo from-server > /w/index.html && exec httpd -f -p 80 -h /w'");
            var answer = await fx.OkAsync($"run --rm --network {network} busybox sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://{server}/ && exit 0; sleep 0.3; done; exit 1'");
            Assert.Equal("from-server\n", answer);
            Assert.Contains(server, await fx.OkAsync($"network inspect -f '{{{{json .Containers}}}}' {network}"));
            var (code, _, err) = await fx.RunAsync($"network rm {network}");
            Assert.NotEqual(0, code); // in use
            Assert.Contains(server, err);
        }
        finally
        {
            await fx.RunAsync($"rm -f {server}");
            await fx.OkAsync($"network rm {network}");
        }
        Assert.DoesNotContain(network, await fx.OkAsync("network ls --format '{{.Name}}'"));
    }

    [SkippableFact]
    public async Task NamedVolume_OutlivesContainers_UntilRemoved()
    {
        fx.RequireEngine();
        var volume = fx.Name("vol");
        await fx.OkAsync($"volume create {volume}");
        await fx.OkAsync($"run --rm -v {volume}:/data busybox sh -c 'echo kept > /data/f'");
        Assert.Equal("kept\n", await fx.OkAsync($"run --rm -v {volume}:/data:ro busybox cat /data/f"));
        Assert.Contains(volume, await fx.OkAsync("volume ls --format '{{.Name}}'"));
        Assert.Contains("local", await fx.OkAsync($"volume inspect -f '{{{{.Driver}}}}' {volume}"));
        await fx.OkAsync($"volume rm {volume}");
        Assert.DoesNotContain(volume, await fx.OkAsync("volume ls --format '{{.Name}}'"));
    }

    [SkippableFact]
    public async Task Images_ListInspectTagRemove()
    {
        fx.RequireEngine();
        Assert.Contains("busybox latest", await fx.OkAsync("images --format '{{.Repository}} {{.Tag}}'"));
        Assert.StartsWith("sha256:", (await fx.OkAsync("image inspect -f '{{.Id}}' busybox")).Trim());
        var tag = fx.Name("img");
        await fx.OkAsync($"tag busybox {tag}:v1");
        Assert.Contains($"{tag} v1", await fx.OkAsync("images --format '{{.Repository}} {{.Tag}}'"));
        await fx.OkAsync($"rmi {tag}:v1");
        Assert.DoesNotContain(tag, await fx.OkAsync("images --format '{{.Repository}} {{.Tag}}'"));
        var (code, _, err) = await fx.RunAsync("build -");
        Assert.NotEqual(0, code);
        Assert.Contains("not supported", err);
    }

    [SkippableFact]
    public async Task BadInput_GetsDockerShapedErrors_AndCreatesNothing()
    {
        fx.RequireEngine();
        var before = fx.Instances.List("default").Count;
        using var http = fx.Http();
        async Task<(HttpStatusCode Status, string Message)> PostAsync(string path, string body)
        {
            using var response = await http.PostAsync(path, new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            return (response.StatusCode, json.RootElement.GetProperty("message").GetString()!);
        }

        var malformed = await PostAsync("/v1.43/containers/create", "{\"Image\":\"busybox\",");
        Assert.Equal(HttpStatusCode.BadRequest, malformed.Status);
        Assert.Contains("malformed JSON", malformed.Message);

        var privileged = await PostAsync("/containers/create", "{\"Image\":\"busybox\",\"HostConfig\":{\"Privileged\":true}}");
        Assert.Equal(HttpStatusCode.BadRequest, privileged.Status);
        Assert.StartsWith("HostConfig.Privileged:", privileged.Message);

        var unknown = await PostAsync("/containers/create", "{\"Image\":\"busybox\",\"Frobnicate\":{\"Level\":3}}");
        Assert.Equal(HttpStatusCode.BadRequest, unknown.Status);
        Assert.StartsWith("Frobnicate:", unknown.Message);

        var volume = fx.Name("half");
        var sysctls = await PostAsync("/containers/create", $"{{\"Image\":\"busybox\",\"HostConfig\":{{\"Binds\":[\"{volume}:/data\"],\"Sysctls\":{{\"net.core.somaxconn\":\"1024\"}}}}}}");
        Assert.Equal(HttpStatusCode.BadRequest, sysctls.Status);
        Assert.StartsWith("HostConfig.Sysctls:", sysctls.Message);

        var tmpfs = await PostAsync("/containers/create", $"{{\"Image\":\"busybox\",\"HostConfig\":{{\"Binds\":[\"{volume}:/data\"],\"Tmpfs\":{{\"/run\":\"size=1m,nr_inodes=5\"}}}}}}");
        Assert.Equal(HttpStatusCode.BadRequest, tmpfs.Status);
        Assert.StartsWith("HostConfig.Tmpfs[/run]:", tmpfs.Message);
        Assert.Contains("nr_inodes=5", tmpfs.Message);

        var runtime = await PostAsync("/containers/create", "{\"Image\":\"busybox\",\"HostConfig\":{\"Runtime\":\"kata\"}}");
        Assert.Equal(HttpStatusCode.BadRequest, runtime.Status);
        Assert.Contains("strata-sandbox", runtime.Message);

        var missing = await PostAsync("/containers/create", "{\"Image\":\"no-such-image-here\"}");
        Assert.Equal(HttpStatusCode.NotFound, missing.Status);
        Assert.Contains("No such image", missing.Message);

        using (var response = await http.GetAsync("/containers/no-such-container/json"))
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Contains("No such container", await response.Content.ReadAsStringAsync());
        }

        var (code, _, err) = await fx.RunAsync("run --rm --privileged busybox true");
        Assert.Equal(125, code);
        Assert.Contains("HostConfig.Privileged", err);
        // A terminal is the container tier's: another tier says so by name instead of dropping it.
        var (code2, _, err2) = await fx.RunAsync("run --rm -t --runtime strata-sandbox busybox true");
        Assert.NotEqual(0, code2);
        Assert.Contains("tty", err2);

        Assert.Equal(before, fx.Instances.List("default").Count);
        Assert.DoesNotContain(volume, await fx.OkAsync("volume ls --format '{{.Name}}'"));
    }

    [SkippableFact]
    public async Task Exec_WithTerminal_RunsOnAPty()
    {
        fx.RequireEngine();
        var name = fx.Name("tty");
        await fx.OkAsync($"run -d --name {name} busybox sleep 300");
        try
        {
            using var http = fx.Http();
            using var created = await http.PostAsync($"/containers/{name}/exec",
                new StringContent("{\"Cmd\":[\"sh\",\"-c\",\"tty; echo done\"],\"Tty\":true,\"AttachStdout\":true,\"AttachStderr\":true}", System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            var execId = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("Id").GetString();
            using var start = await http.PostAsync($"/exec/{execId}/start", new StringContent("{\"Detach\":false,\"Tty\":true}", System.Text.Encoding.UTF8, "application/json"));
            var raw = await start.Content.ReadAsStringAsync();
            Assert.Contains("/dev/pts/", raw); // raw stream: a terminal, no multiplexing headers
            Assert.Contains("done", raw);
            var inspect = JsonDocument.Parse(await http.GetStringAsync($"/exec/{execId}/json")).RootElement;
            Assert.Equal(0, inspect.GetProperty("ExitCode").GetInt32());
            Assert.False(inspect.GetProperty("Running").GetBoolean());
        }
        finally
        {
            await fx.RunAsync($"rm -f {name}");
        }
    }

    [SkippableFact]
    public async Task TenantSocket_SeesAndTouchesNothingOfTheDefaultProject()
    {
        fx.RequireEngine();
        var name = fx.Name("private");
        await fx.OkAsync($"run -d --name {name} busybox sleep 300");
        try
        {
            Assert.DoesNotContain(name, await fx.OkAsync("ps -a --format '{{.Names}}'", fx.TenantSocket));
            var (inspectCode, _, inspectErr) = await fx.RunAsync($"inspect {name}", fx.TenantSocket);
            Assert.NotEqual(0, inspectCode);
            Assert.Contains("No such", inspectErr, StringComparison.OrdinalIgnoreCase);
            var (rmCode, _, rmErr) = await fx.RunAsync($"rm {name}", fx.TenantSocket);
            Assert.NotEqual(0, rmCode);
            Assert.Contains("No such container", rmErr);
            var (stopCode, _, _) = await fx.RunAsync($"stop {name}", fx.TenantSocket);
            Assert.NotEqual(0, stopCode);
            Assert.True(fx.Instances.Get("default", name).State.IsActive());

            // The tenant's own containers are in its project, invisible from the default socket.
            var own = fx.Name("tenant");
            Assert.Equal("tenant says hi\n", await fx.OkAsync($"run --name {own} busybox echo tenant says hi", fx.TenantSocket));
            Assert.Single(fx.Instances.List("tenant"), r => r.Name == own);
            Assert.DoesNotContain(own, await fx.OkAsync("ps -a --format '{{.Names}}'"));
            await fx.OkAsync($"rm {own}", fx.TenantSocket);
        }
        finally
        {
            await fx.RunAsync($"rm -f {name}");
        }
    }

    [SkippableFact]
    public async Task RuntimeStrataSandbox_RunsInAMicroVm_WithItsOwnKernel()
    {
        fx.RequireEngine();
        if (!fx.Instances.Drivers.IsAvailable(Tier.Sandbox))
        {
            var reason = "the sandbox tier is not available here: " + fx.Instances.Drivers.Fingerprint(Tier.Sandbox).Reason;
            Assert.False(Testing.TestEnvironment.IsCi, reason);
            Skip.If(true, reason);
        }
        var kernel = (await fx.OkAsync("run --rm --runtime strata-sandbox busybox uname -r")).Trim();
        Assert.NotEqual(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), kernel);
        Assert.NotEmpty(kernel);
        var labelled = (await fx.OkAsync("run --rm --label io.strata.tier=sandbox busybox uname -r")).Trim();
        Assert.Equal(kernel, labelled);
    }

    [SkippableFact]
    public async Task Events_Top_Stats_OfARunningContainer()
    {
        fx.RequireEngine();
        var name = fx.Name("observed");
        using var http = fx.Http();
        using var events = await http.GetAsync($"/events?filters={Uri.EscapeDataString($"{{\"container\":[\"{name}\"]}}")}", HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await events.Content.ReadAsStreamAsync());
        await fx.OkAsync($"run -d --name {name} busybox sleep 300");
        try
        {
            var actions = new List<string>();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (!actions.Contains("start") && await reader.ReadLineAsync(cts.Token) is { } line)
            {
                using var e = JsonDocument.Parse(line);
                Assert.Equal(name, e.RootElement.GetProperty("Actor").GetProperty("Attributes").GetProperty("name").GetString());
                actions.Add(e.RootElement.GetProperty("Action").GetString()!);
            }
            Assert.Equal(["create", "start"], actions);

            // Right after the start the workload may still be the runtime's init, about to exec sleep.
            var top = "";
            Assert.True(await Testing.TestEnvironment.EventuallyAsync(() =>
            {
                top = fx.OkAsync($"top {name}").GetAwaiter().GetResult();
                return top.Contains("sleep", StringComparison.Ordinal);
            }, TimeSpan.FromSeconds(10)), top);
            var stats = await fx.OkAsync($"stats --no-stream --format '{{{{.Name}}}} {{{{.PIDs}}}}' {name}");
            Assert.Contains($"{name} 1", stats);
        }
        finally
        {
            await fx.RunAsync($"rm -f {name}");
        }
    }
}
