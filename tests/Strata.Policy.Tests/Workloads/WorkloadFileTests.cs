using Strata.Contracts;
using Strata.Policy.Advisor;
using Strata.Policy.Workloads;

namespace Strata.Policy.Tests.Workloads;

public sealed class WorkloadFileTests
{
    private static IReadOnlyList<WorkloadError> Errors(string text)
    {
        var result = WorkloadFile.Parse(text, "w.yaml");
        Assert.False(result.Succeeded, "expected errors");
        Assert.Empty(result.Workloads);
        return result.Errors;
    }

    [Fact]
    public void Parse_BadEnumValue_NamesKeyAndLine()
    {
        const string text = """
            name: web
            image: busybox
            resources:
              cpus: 1
              memory: 64M
            requirements:
              isolation: stronk
            """;

        var error = Assert.Single(Errors(text));

        Assert.Equal("line 7: requirements.isolation: 'stronk' is not one of none, standard, strong", error.ToString());
        Assert.Equal(7, error.Line);
        Assert.Equal(14, error.Column);
    }

    [Fact]
    public void Parse_UnknownKey_IsAnErrorWithASuggestion()
    {
        var error = Assert.Single(Errors("name: web\nrequirements:\n  isolatoin: strong\n"));

        Assert.Equal("line 3: requirements.isolatoin: unknown key; did you mean 'isolation'?", error.ToString());
    }

    [Fact]
    public void Parse_UnknownKeyFarFromAny_ListsTheKnownKeys()
    {
        var error = Assert.Single(Errors("name: web\nresources:\n  disk: 10G\n"));

        Assert.Equal("resources.disk", error.Path);
        Assert.Contains("known keys here: cpus, memory, pids", error.Message);
    }

    [Fact]
    public void Parse_ErrorsInAList_NameTheItemAndReportAllAtOnce()
    {
        const string text = """
            workloads:
              - name: a
                image: busybox
              - name: b
                imag: busybox
                requirements:
                  gpus: -1
                  fullOs: yes
                  startupBudget: 50
            """;

        var errors = Errors(text);

        Assert.Equal(
            [
                "line 5: workloads[1].imag: unknown key; did you mean 'image'?",
                "line 7: workloads[1].requirements.gpus: '-1' is not a whole number",
                "line 8: workloads[1].requirements.fullOs: 'yes' is not a boolean: write true or false (unquoted)",
                "line 9: workloads[1].requirements.startupBudget: '50' is not a duration: use a number and a unit (us, ms, s or m), e.g. 50ms or 5s",
            ],
            errors.Select(e => e.ToString()));
    }

    [Theory]
    [InlineData("name: web\nrequirements:\n  trust: maybe\n", "line 3: requirements.trust: 'maybe' is not one of trusted, untrusted")]
    [InlineData("name: web\nrequirements:\n  hardware: gpu\n", "line 3: requirements.hardware: 'gpu' is not one of none, shared, dedicated")]
    [InlineData("name: web\ntier: turbo\n", "line 2: tier: 'turbo' is not one of auto, process, container, sandbox, vm, wasm")]
    [InlineData("name: web\nrequirements:\n  os: beos\n", "line 3: requirements.os: 'beos' is not one of linux, windows, freebsd, openbsd, netbsd, illumos")]
    [InlineData("name: web\nrequirements:\n  arch: z80\n", "line 3: requirements.arch: 'z80' is not one of host, amd64, arm64, 386, arm, riscv64, ppc64le, s390x (or x86_64, aarch64, ...)")]
    [InlineData("name: web\nrequirements:\n  ownKernel: \"true\"\n", "line 3: requirements.ownKernel: the string \"true\" is not a boolean: write true or false (unquoted)")]
    [InlineData("name: web\nresources:\n  memory: lots\n", "line 3: resources.memory: 'lots' is not a memory size: use bytes or a unit, e.g. 64M, 512MiB, 1Gi")]
    [InlineData("name: web\nresources:\n  cpus: 0\n", "line 3: resources.cpus: must be more than 0 (cores, e.g. 0.5 or 2)")]
    [InlineData("name: web\nresources:\n  pids: 0\n", "line 3: resources.pids: must be at least 1")]
    [InlineData("name: web\ncommand: echo hi\n", "line 2: command: must be a list of strings, e.g. [sh, -c, 'echo hi']")]
    [InlineData("name: web\nenv:\n  A: [1]\n", "line 3: env.A: must be a single value (write '' for an empty one)")]
    [InlineData("name: Web_1\n", "line 1: name: 'Web_1' is not a valid name: 1-63 lower-case letters, digits or '-', starting and ending with a letter or digit")]
    [InlineData("image: busybox\n", "line 1: name: is required: every workload needs a name (lower-case letters, digits, '-')")]
    [InlineData("name: a\nname: b\n", "line 2: duplicate key 'name'")]
    [InlineData("workloads:\n  - name: a\n  - name: a\n", "line 3: name: 'a' is used twice (also on line 2): names must be unique")]
    [InlineData("workloads: web\n", "line 1: workloads: must be a list of workloads")]
    [InlineData("workloads: []\nversion: 1\n", "line 2: version: unknown key; beside 'workloads' only '$schema' may appear; a workload's keys go inside the list")]
    [InlineData("just text\n", "line 1: expected a workload (a mapping with name, image, ...) or a list of workloads")]
    [InlineData("", "line 1: the file holds no workloads: write one workload (name, image, ...) or a list under 'workloads'")]
    [InlineData("name: web\nrequirements:\n  kernelModules: [\"bad name\"]\n", "line 3: requirements.kernelModules: 'bad name' is not a kernel module name (letters, digits, '_' or '-')")]
    [InlineData("name: web\nrequirements:\n  gpus: 65\n", "line 3: requirements.gpus: must be between 0 and 64")]
    public void Parse_BadValue_SaysWhatAndWhere(string text, string expected)
    {
        Assert.Equal(expected, Errors(text)[0].ToString());
    }

    [Fact]
    public void Parse_YamlSyntaxError_GivesTheLine()
    {
        var error = Assert.Single(Errors("name: web\ncommand: [a, b\nimage: x\n"));

        Assert.InRange(error.Line, 2, 3);
        Assert.StartsWith("not valid YAML or JSON", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnclosedJson_GivesALine()
    {
        var error = Assert.Single(Errors("{\n  \"name\": \"web\",\n  \"command\": [\"a\"\n"));

        Assert.InRange(error.Line, 2, 4);
        Assert.StartsWith("not valid YAML or JSON", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_MangledFiles_NeverThrow()
    {
        // Cut and splice the example file at many places: every result is workloads or errors, never an exception.
        var text = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "assets", "examples", "mixed.yaml"));
        var random = new Random(1234);
        for (var i = 0; i < 2_000; i++)
        {
            var cut = random.Next(text.Length);
            var mangled = (i % 3) switch
            {
                0 => text[..cut],
                1 => text.Remove(cut, Math.Min(random.Next(1, 8), text.Length - cut)),
                _ => text.Insert(cut, "[{:-\"'\t\n#&*!|>"[random.Next(14)].ToString()),
            };
            var result = WorkloadFile.Parse(mangled, "m.yaml");
            Assert.True(result.Succeeded || result.Errors.All(e => e.Line >= 1 && e.Message.Length > 0));
        }
    }

    [Fact]
    public void Parse_Json_WithTabsAndLines()
    {
        const string json = "{\n\t\"workloads\": [\n\t\t{\"name\": \"web\", \"image\": \"busybox\", \"resources\": {\"memory\": 67108864}},\n\t\t{\"name\": \"bad\", \"requirements\": {\"isolation\": \"stronk\"}}\n\t]\n}";

        var error = Assert.Single(Errors(json));

        Assert.Equal("line 4: workloads[1].requirements.isolation: 'stronk' is not one of none, standard, strong", error.ToString());
    }

    [Fact]
    public void Parse_JsonAndYaml_OfTheSameWorkload_AreEqual()
    {
        const string yaml = """
            name: api
            image: registry.local/api:1
            command: [/bin/api]
            args: [--port, "8080"]
            env: {MODE: prod, WORKERS: 4}
            resources: {cpus: 1.5, memory: 1Gi, pids: 100}
            tier: auto
            project: shop
            requirements:
              trust: untrusted
              startupBudget: 5s
              kernelModules: [overlay]
            """;
        const string json = """
            {"name": "api", "image": "registry.local/api:1", "command": ["/bin/api"], "args": ["--port", "8080"],
             "env": {"MODE": "prod", "WORKERS": 4}, "resources": {"cpus": 1.5, "memory": "1Gi", "pids": 100},
             "tier": "auto", "project": "shop",
             "requirements": {"trust": "untrusted", "startupBudget": "5s", "kernelModules": ["overlay"]}}
            """;

        var a = Assert.Single(WorkloadFile.Parse(yaml, "a.yaml").GetOrThrow());
        var b = Assert.Single(WorkloadFile.Parse(json, "a.json").GetOrThrow());

        Assert.Equal(Canonical(a), Canonical(b));
        Assert.Equal(1L << 30, a.Resources!.MemoryBytes);
        Assert.Equal("4", a.Env!["WORKERS"]);
        Assert.Equal(TimeSpan.FromSeconds(5), a.Requirements.StartupBudget);
        Assert.True(a.IsAuto);
        Assert.Equal("shop", a.Project);
    }

    [Fact]
    public void Parse_TopLevelList_AndMultipleDocuments_AddUp()
    {
        var list = WorkloadFile.Parse("- name: a\n- name: b\n", "l.yaml").GetOrThrow();
        var docs = WorkloadFile.Parse("name: a\n---\nname: b\n", "d.yaml").GetOrThrow();

        Assert.Equal(["a", "b"], list.Select(w => w.Name));
        Assert.Equal(["a", "b"], docs.Select(w => w.Name));
        Assert.Equal(3, docs[1].Line);
    }

    [Fact]
    public void Parse_Defaults_AreTheNoSpecialNeedAnswers()
    {
        var w = Assert.Single(WorkloadFile.Parse("name: a\nimage: busybox\nrequirements: {arch: host}\n", "a.yaml").GetOrThrow());

        Assert.Null(w.Tier);
        Assert.Equal(new Requirements().Os, w.Requirements.Os);
        Assert.Null(w.Requirements.Arch);
        Assert.Equal(IsolationNeed.Standard, w.Requirements.Isolation);
        Assert.Equal(TrustLevel.Trusted, w.Requirements.Trust);
        Assert.Equal(HardwareNeed.None, w.Requirements.Hardware);
        Assert.Null(w.Requirements.StartupBudget);
    }

    [Fact]
    public void Parse_ArchAlias_IsCanonical()
    {
        var w = Assert.Single(WorkloadFile.Parse("name: a\nrequirements: {arch: aarch64, os: Windows}\n", "a.yaml").GetOrThrow());

        Assert.Equal("arm64", w.Requirements.Arch);
        Assert.Equal("windows", w.Requirements.Os);
    }

    [Fact]
    public void GetOrThrow_Errors_ThrowInvalidArgumentWithFileAndLines()
    {
        var error = Assert.Throws<StrataException>(() => WorkloadFile.Parse("name: web\nrequirements:\n  isolation: stronk\n  trust: x\n", "my.yaml").GetOrThrow());

        Assert.Equal(ErrorKind.InvalidArgument, error.Kind);
        Assert.Equal("requirements.isolation", error.Field);
        Assert.StartsWith("my.yaml: 2 errors:", error.Message, StringComparison.Ordinal);
        Assert.Contains("line 3: requirements.isolation: 'stronk'", error.Message);
        Assert.Contains("line 4: requirements.trust: 'x'", error.Message);
    }

    [Fact]
    public void ToInstanceSpec_MapsEveryField()
    {
        var w = Assert.Single(WorkloadFile.Parse("name: web\nimage: busybox\ncommand: [httpd]\nargs: [-f]\nenv: {A: b}\nresources: {cpus: 0.5, memory: 64M, pids: 10}\n", "w.yaml").GetOrThrow());

        var spec = w.ToInstanceSpec("container");

        Assert.Equal("web", spec.Name);
        Assert.Equal("container", spec.Tier);
        Assert.Equal("busybox", spec.Image);
        Assert.Equal(["httpd"], spec.Command!);
        Assert.Equal(["-f"], spec.Args!);
        Assert.Equal("b", spec.Env!["A"]);
        Assert.Equal(0.5, spec.Resources!.Cpus);
        Assert.Equal(64L * 1024 * 1024, spec.Resources.MemoryBytes);
        Assert.Equal(10L, spec.Resources.Pids);
        Assert.Equal("vm", w.ToInstanceSpec(Tier.Vm).Tier);
        Assert.Equal(ErrorKind.InvalidArgument, Assert.Throws<StrataException>(() => w.ToInstanceSpec("auto")).Kind);
    }

    [Theory]
    [InlineData("1", 1L)]
    [InlineData("512", 512L)]
    [InlineData("1b", 1L)]
    [InlineData("1k", 1024L)]
    [InlineData("64M", 67108864L)]
    [InlineData("64m", 67108864L)]
    [InlineData("64Mi", 67108864L)]
    [InlineData("512MiB", 536870912L)]
    [InlineData("64MB", 67108864L)]
    [InlineData("1Gi", 1073741824L)]
    [InlineData("1.5G", 1610612736L)]
    [InlineData("2T", 2199023255552L)]
    [InlineData(" 8 Mi ", 8388608L)]
    public void TryParseMemoryBytes_Units_AreBinary(string text, long expected)
    {
        Assert.True(Quantities.TryParseMemoryBytes(text, out var bytes, out var error), error);
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("-1M")]
    [InlineData("1X")]
    [InlineData("1 GiBs")]
    [InlineData("99999999999T")]
    public void TryParseMemoryBytes_Garbage_IsRejected(string text)
    {
        Assert.False(Quantities.TryParseMemoryBytes(text, out _, out var error));
        Assert.NotEmpty(error);
    }

    [Theory]
    [InlineData("500us", 5_000L)]
    [InlineData("50ms", 500_000L)]
    [InlineData("5s", 50_000_000L)]
    [InlineData("1.5s", 15_000_000L)]
    [InlineData("2m", 1_200_000_000L)]
    public void TryParseDuration_Units(string text, long ticks)
    {
        Assert.True(Quantities.TryParseDuration(text, out var duration, out var error), error);
        Assert.Equal(ticks, duration.Ticks);
    }

    [Theory]
    [InlineData("50")]
    [InlineData("0s")]
    [InlineData("5h")]
    [InlineData("fast")]
    public void TryParseDuration_Garbage_IsRejected(string text)
    {
        Assert.False(Quantities.TryParseDuration(text, out _, out _));
    }

    internal static string Canonical(WorkloadDefinition w) => string.Join('|',
        w.Name, w.Image, Join(w.Command), Join(w.Args),
        w.Env is null ? "" : string.Join(",", w.Env.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key}={e.Value}")),
        w.Resources?.Cpus, w.Resources?.MemoryBytes, w.Resources?.Pids, w.Tier, w.Project,
        w.Requirements with { KernelModules = [] }, Join(w.Requirements.KernelModules));

    private static string Join(IEnumerable<string>? items) => items is null ? "<null>" : string.Join(",", items);
}
