using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using System.Security.Cryptography.X509Certificates;
using Strata.Control;
using Strata.Control.Projects;
using Strata.Daemon.Api;
using Strata.Node;
using Strata.Node.Cgroups;
using Strata.Node.Drivers.Container;
using Strata.Node.Drivers.Fake;
using Strata.Node.Drivers.Wasm;
using Strata.Node.Images;
using Strata.Node.Networking;
using Strata.Node.Supervision;
using Strata.Node.Drivers.Process;
using Strata.Node.Drivers.Sandbox;
using Strata.Node.Guest;
using Strata.Node.Drivers.Vm;
using Strata.Images;
using Strata.Store;

namespace Strata.Daemon;

/// <summary>
/// stratad: one process per data root. Owns the state store, the drivers and the API listeners.
/// Start-up order: lock the root → open the store → fingerprint drivers → reconcile → listen.
/// Shutdown (SIGTERM/SIGINT) stops listening and leaves every workload running.
/// </summary>
public sealed partial class DaemonHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly FileStream _lock;
    private readonly DaemonOptions _options;
    private readonly ILogger _logger;

    private DaemonHost(WebApplication app, FileStream rootLock, DaemonOptions options)
    {
        _app = app;
        _lock = rootLock;
        _options = options;
        _logger = app.Services.GetRequiredService<ILogger<DaemonHost>>();
    }

    public IServiceProvider Services => _app.Services;

    public static async Task<DaemonHost> StartAsync(DaemonOptions options, Action<ILoggingBuilder>? configureLogging = null, CancellationToken cancellationToken = default)
    {
        DataRootPermissions.CreateRoot(options.Root);
        var rootLock = LockRoot(options.Root);
        var scope = new NodeScope(options.Node);
        try
        {
            ClaimRootForNode(options.Root, scope);
            // Before anything else opens a file under the root: leftovers of interrupted operations go, and an
            // install with older, looser modes is made private (docs/security.md, "File permissions").
            var (swept, repaired) = PrepareRoot(options.Root);
            PrepareSocket(options.Socket);
            PrepareDockerSockets(options);

            // The daemon is configured by its flags and environment (e.g. Logging__LogLevel__*). The host's defaults
            // would also read appsettings.json from the working directory and watch it for changes: a recursive
            // inotify watch of that whole tree (from /, every directory on the machine) whose events cost CPU on
            // every file write under it. So: the install directory as content root, and nothing watched.
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
            {
                ContentRootPath = AppContext.BaseDirectory,
                Args = ["--hostBuilder:reloadConfigOnChange=false"],
            });
            builder.Logging.ClearProviders();
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            });
            builder.Logging.SetMinimumLevel(LogLevel.Information);
            builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
            configureLogging?.Invoke(builder.Logging);

            builder.WebHost.ConfigureKestrel(k =>
            {
                k.Limits.MaxRequestBodySize = 1024 * 1024;
                k.AddServerHeader = false;
                k.ListenUnixSocket(options.Socket);
                DockerApi.DockerApiHost.Listen(k, options);
                if (options.Listen is { } endpoint)
                {
                    k.Listen(endpoint, l =>
                    {
                        l.Protocols = HttpProtocols.Http1;
                        if (options.TlsCertificate is { } cert)
                        {
                            l.UseHttps(X509Certificate2.CreateFromPemFile(cert, options.TlsKey));
                        }
                    });
                }
            });

            var token = options.Listen is null ? null
                : Authentication.LoadOrCreateToken(options.TokenFile ?? Path.Combine(options.Root, "admin.token"));
            builder.Services.AddSingleton(options);
            builder.Services.AddSingleton(scope);
            builder.Services.AddSingleton(TimeProvider.System);
            builder.Services.AddSingleton(sp => new SqliteStateStore(Path.Combine(options.Root, "state.db"), sp.GetRequiredService<ILogger<SqliteStateStore>>()));
            builder.Services.AddSingleton<IStateStore>(sp => sp.GetRequiredService<SqliteStateStore>());
            builder.Services.AddSingleton(sp => new ProjectService(ProjectStore(sp, options), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<DriverRegistry>()));
            builder.Services.AddSingleton(sp => new Authentication(
                token ?? Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)), sp.GetRequiredService<ProjectService>(),
                sp.GetService<Cluster.ClusterNode>()?.Token));
            builder.Services.AddSingleton<EventBus>();
            builder.Services.AddSingleton<RequestMetrics>();
            builder.Services.AddSingleton(sp => new ControlOptions
            {
                Root = options.Root,
                AllowFakeTier = options.EnableFakeTier,
                Placement = sp.GetRequiredService<Advice.HostAdvisor>(),
                Projects = sp.GetRequiredService<ProjectService>(),
                OpenMoveDestination = (destination, project) => new Move.RemoteMoveDestination(new Uri(destination.Address), destination.Token, project, destination.CertificateSha256),
                ResizeQuota = ResizeQuota(sp, options),
            });
            builder.Services.AddSingleton<Advice.HostAdvisor>();
            builder.Services.AddSingleton(new NetworkRegistry(options.Networks ?? scope.Networks(Path.Combine(options.Root, "networks"))));
            // One guest pipeline (kernel, initramfs, accelerator, per-image base disks) for the sandbox and vm tiers.
            builder.Services.AddSingleton(new GuestPipeline(Path.Combine(options.Root, "cache", "guest")));
            builder.Services.AddSingleton(sp => new DriverRegistry(CreateDrivers(options, sp)));
            builder.Services.AddSingleton<InstanceService>();
            builder.Services.AddSingleton<InstanceListWriter>();
            builder.Services.AddSingleton(sp => new Strata.Control.Usage.UsageSampler(
                sp.GetRequiredService<InstanceService>(), sp.GetRequiredService<SqliteStateStore>(), sp.GetRequiredService<TimeProvider>(),
                new Strata.Control.Usage.UsageSamplerOptions
                {
                    Interval = TimeSpan.FromSeconds(options.UsageIntervalSeconds),
                    Node = options.Node,
                    Policy = new Strata.Control.Usage.UsageSamplerOptions().Policy with
                    {
                        Cooldown = TimeSpan.FromSeconds(options.RightsizeCooldownSeconds),
                        ConsecutiveSamples = options.RightsizeSamples,
                    },
                },
                sp.GetRequiredService<ILogger<Strata.Control.Usage.UsageSampler>>(),
                sp.GetRequiredService<Strata.Control.Projects.ProjectService>()));
            AddCluster(builder.Services, options);
            builder.Services.AddImageApi(options);
            DockerApi.DockerApiHost.AddDockerApi(builder.Services, options);
            builder.Services.ConfigureHttpJsonOptions(j => j.SerializerOptions.TypeInfoResolverChain.Insert(0, StrataJsonContext.Default));
            // A parameter that does not bind (?timeout=99999999999) throws into ProblemMapping, which answers with a
            // problem document naming the parameter, instead of a bare 400 with an empty body.
            builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
            builder.Services.AddOpenApi("v1", o => o.AddDocumentTransformer((doc, _, _) =>
            {
                doc.Info.Title = "Strata API";
                doc.Info.Description = "One control plane for process, container, sandbox, vm and wasm workloads.";
                return Task.CompletedTask;
            }));

            var app = builder.Build();
            var metrics = app.Services.GetRequiredService<RequestMetrics>();
            var auth = app.Services.GetRequiredService<Authentication>();
            app.Use(metrics.Middleware);
            DockerApi.DockerApiHost.MapDockerApi(app); // requests of a docker socket branch off here (docs/docker-api.md)
            app.Use(ProblemMapping.Middleware);
            app.Use(DashboardEndpoints.Middleware); // /ui, and the dashboard's WebSocket token cookie
            app.Use(auth.Middleware);
            app.UseWebSockets(); // before the cluster's: it relays exec -it and console WebSockets to the owning node
            app.Use(Cluster.ClusterApi.Middleware); // cluster mode only: instances from etcd, /v1/cluster (docs/cluster.md)
            app.MapOpenApi("/openapi/{documentName}.json");
            InstanceEndpoints.Map(app);
            MoveEndpoints.Map(app);
            ColdMoveEndpoints.Map(app);
            SnapshotEndpoints.Map(app);
            ExecEndpoints.Map(app);
            ConsoleEndpoints.Map(app);
            SystemEndpoints.Map(app);
            AdvisorEndpoints.Map(app);
            UsageEndpoints.Map(app);
            RebalanceEndpoints.Map(app);
            ProjectEndpoints.Map(app);
            NetworkEndpoints.Map(app);
            BenchEndpoints.Map(app);
            DashboardEndpoints.Map(app);
            app.MapImageApi();

            // Before the drivers' probes start containers: each of them moves processes into cgroups.
            var favorDynMods = options.FavorDynMods
                ? CgroupFavorDynMods.Enable()
                : new CgroupFavorDynMods.Result(CgroupFavorDynMods.IsEnabled(), "left as it is (--no-favordynmods)");
            var service = app.Services.GetRequiredService<InstanceService>();
            service.ManagedVolumes = app.Services.GetRequiredService<DockerApi.DockerVolumes>(); // what cold moves carry
            service.MovableImages = new Move.StoreImages(app.Services.GetRequiredService<ImageStore>()); // and the image, when the target lacks it
            await service.Drivers.FingerprintAllAsync(cancellationToken).ConfigureAwait(false);
            await CheckClusterTokenAsync(app.Services, cancellationToken).ConfigureAwait(false);
            await app.Services.GetRequiredService<ProjectService>().InitializeAsync(cancellationToken).ConfigureAwait(false);
            await service.InitializeAsync(cancellationToken).ConfigureAwait(false);
            var sampler = app.Services.GetRequiredService<Strata.Control.Usage.UsageSampler>();
            await sampler.InitializeAsync(cancellationToken).ConfigureAwait(false);
            sampler.Start();
            // Network members whose instance the store does not know are leftovers of a create cut short by a crash.
            await app.Services.GetRequiredService<NetworkRegistry>().PruneAsync([.. service.List().Select(r => r.Id)], cancellationToken).ConfigureAwait(false);
            // Tenant networks' members stay off the host's addresses: the rules come back after a reboot or an upgrade.
            await app.Services.GetRequiredService<NetworkRegistry>().EnsureHostAccessRulesAsync(cancellationToken).ConfigureAwait(false);
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            await StartClusterAsync(app.Services, cancellationToken).ConfigureAwait(false);
            SecureSocket(options.Socket);
            SecureDockerSockets(options);

            // What this start created (the store, the image store's directories) gets the same modes.
            _ = DataRootPermissions.Enforce(options.Root);

            var host = new DaemonHost(app, rootLock, options);
            host.LogPrepared(swept, repaired);
            host.LogFavorDynMods(favorDynMods.Enabled ? "on" : "off", favorDynMods.Enabled ? favorDynMods.Detail
                : favorDynMods.Detail + "; each move into a cgroup (every container start) may wait ~10 ms for an RCU grace period");
            host.LogListening(options.Socket, options.Listen?.ToString() ?? "-", service.StoreDescription, service.List().Count);
            return host;
        }
        catch
        {
            await rootLock.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static IEnumerable<IDriver> CreateDrivers(DaemonOptions options, IServiceProvider services)
    {
        var images = new ChainedImageResolver(
            new DirectoryImageResolver(options.Images),
            new Strata.Node.Images.ImageStoreResolver(services.GetRequiredService<Strata.Images.ImageStore>()));
        // One standby supervisor serves every supervised tier.
        var launcher = SupervisedRuntime.SharedLauncher(options.Supervisor);
        var scope = services.GetRequiredService<NodeScope>();
        yield return new ProcessDriver(new ProcessDriverOptions
        {
            Supervisor = options.Supervisor,
            LogMaxBytes = options.LogMaxBytes,
            Launcher = launcher,
            CgroupParent = scope.CgroupParent,
        }, services.GetRequiredService<ILogger<ProcessDriver>>());
        yield return new WasmDriver(new WasmDriverOptions
        {
            CacheDirectory = Path.Combine(options.Root, "cache", "wasm"),
            LogMaxBytes = options.LogMaxBytes,
            Sources = [new Images.ImageStoreWasmSource(services.GetRequiredService<ImageStore>())],
        }, services.GetRequiredService<TimeProvider>(), services.GetRequiredService<ILogger<WasmDriver>>());
        yield return new VmDriver(new VmDriverOptions
        {
            CacheDirectory = Path.Combine(options.Root, "cache", "guest"),
            Guest = services.GetRequiredService<GuestPipeline>(),
            Supervisor = options.Supervisor,
            LogMaxBytes = options.LogMaxBytes,
            Networks = services.GetRequiredService<NetworkRegistry>(),
            Launcher = launcher,
            Templates = options.VmTemplates,
        }, services.GetRequiredService<ImageStore>(), services.GetRequiredService<ILogger<VmDriver>>());
        yield return new ContainerDriver(new ContainerDriverOptions
        {
            Supervisor = options.Supervisor,
            LogMaxBytes = options.LogMaxBytes,
            Runtime = options.OciRuntime,
            RuntimeStateRoot = Path.Combine(options.Root, "run", "oci"),
            CgroupParent = scope.CgroupParent,
            Networks = services.GetRequiredService<NetworkRegistry>(),
            Launcher = launcher,
        }, images, services.GetRequiredService<ILogger<ContainerDriver>>());
        yield return new SandboxDriver(new SandboxDriverOptions
        {
            CacheDirectory = Path.Combine(options.Root, "cache", "guest"),
            Guest = services.GetRequiredService<GuestPipeline>(),
            Supervisor = options.Supervisor,
            LogMaxBytes = options.LogMaxBytes,
            Accelerator = Environment.GetEnvironmentVariable("STRATA_SANDBOX_ACCEL"),
            Networks = services.GetRequiredService<NetworkRegistry>(),
            Launcher = launcher,
            Templates = options.SandboxTemplates,
        }, images, services.GetRequiredService<ILogger<SandboxDriver>>());
        if (options.EnableFakeTier)
        {
            yield return new FakeDriver(services.GetRequiredService<TimeProvider>(), options.LogMaxBytes);
        }
    }

    /// <summary>Two daemons on one root would corrupt each other's view: hold an exclusive lock for our lifetime.</summary>
    private static FileStream LockRoot(string root)
    {
        var path = Path.Combine(root, "stratad.lock");
        try
        {
            // On Unix, FileShare.None takes an exclusive advisory lock (flock), released when the process dies.
            return new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate,
                Access = FileAccess.ReadWrite,
                Share = FileShare.None,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
        }
        catch (IOException)
        {
            throw new StrataException(ErrorKind.Conflict, $"another stratad is already using the data root {root}; stop it first or pass a different --root");
        }
    }

    private static void PrepareSocket(string socketPath)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(socketPath)!);
        if (!File.Exists(socketPath))
        {
            return;
        }
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(socketPath));
            throw new StrataException(ErrorKind.Conflict, $"another daemon is listening on {socketPath}; stop it or pass a different --socket");
        }
        catch (SocketException)
        {
            File.Delete(socketPath); // stale socket of a daemon that died
        }
    }

    /// <summary>
    /// A socket is 0660 root:GROUP (default <c>strata</c>). A named group that does not exist is an error; the default
    /// one may be missing (then only root reaches the socket).
    /// </summary>
    private static void SecureSocket(string socketPath, string? group = null)
    {
        File.SetUnixFileMode(socketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
        if (UnixGroups.Find(group ?? DataRootPermissions.GroupName) is { } gid)
        {
            _ = Chown(socketPath, -1, gid);
        }
        else if (group is not null)
        {
            throw new StrataException(ErrorKind.InvalidArgument, $"--socket-group: no group named '{group}' on this host (socket {socketPath}); create it or name another");
        }
    }

    [LibraryImport("libc", EntryPoint = "chown", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Chown(string path, int owner, int group);

    public Task WaitForShutdownAsync() => _app.WaitForShutdownAsync();

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.Services.GetRequiredService<Strata.Control.Usage.UsageSampler>().DisposeAsync().ConfigureAwait(false); // saves the histories
        await _app.Services.GetRequiredService<InstanceService>().DisposeAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        try
        {
            File.Delete(_options.Socket);
        }
        catch (IOException)
        {
        }
        DeleteDockerSockets();
        ReleaseNodeCgroupParent();
        await _lock.DisposeAsync().ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 1003, Level = LogLevel.Information, Message = "cgroup2 favordynmods {State}: {Detail}")]
    private partial void LogFavorDynMods(string state, string detail);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Information, Message = "stratad listening on {Socket} (tcp {Tcp}); store {Store}; {Count} instances")]
    private partial void LogListening(string socket, string tcp, string store, int count);
}
