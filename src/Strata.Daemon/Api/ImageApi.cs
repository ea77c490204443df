using Strata.Contracts;
using Strata.Control.Operations;
using Strata.Images;
using Strata.Node.Drivers.Vm;

namespace Strata.Daemon.Api;

/// <summary>Wires the image store and the operations facility into the daemon (services and routes).</summary>
public static class ImageApi
{
    /// <summary>The image store lives at <c>&lt;root&gt;/images</c>.</summary>
    public static IServiceCollection AddImageApi(this IServiceCollection services, DaemonOptions options)
    {
        services.AddSingleton(sp =>
        {
            var store = new ImageStore(Path.Combine(options.Root, "images"), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<ImageStore>>()) { UnpackLimits = options.Unpack };
            ImageEndpoints.CleanSpools(store);
            return store;
        });
        services.AddSingleton(_ => new VmDiskImages(Path.Combine(options.Root, "images", "disks")));
        services.AddSingleton(sp => new OperationRegistry(sp.GetRequiredService<TimeProvider>(), Describe));
        return services;
    }

    public static IEndpointRouteBuilder MapImageApi(this IEndpointRouteBuilder app)
    {
        ImageEndpoints.Map(app);
        OperationEndpoints.Map(app);
        CommitEndpoints.Map(app);
        return app;
    }

    private static ProblemDetails Describe(Exception e) => ProblemMapping.ToProblem(ProblemMapping.Classify(e));
}
