namespace Strata.Images.Registry;

/// <summary>How to talk to registries during a pull or push.</summary>
public sealed record RegistryOptions
{
    /// <summary>
    /// Registries (host[:port], e.g. <c>127.0.0.1:5000</c>) that may be reached over plain HTTP. Every other
    /// registry must speak HTTPS; loopback gets no exception, so plain HTTP is always an explicit choice.
    /// </summary>
    public IReadOnlyList<string> InsecureRegistries { get; init; } = [];

    /// <summary>Credentials sent to the token endpoint (Bearer flow) or to the registry (Basic flow).</summary>
    public string? Username { get; init; }

    public string? Password { get; init; }

    /// <summary>A fixed bearer token to present instead of running the token flow.</summary>
    public string? BearerToken { get; init; }

    /// <summary>The platform to pick from a multi-arch index; the host's when null.</summary>
    public Oci.Platform? Platform { get; init; }

    /// <summary>Replaces the HTTP stack (custom CA for HTTPS tests); the caller keeps ownership.</summary>
    public HttpMessageHandler? HttpHandler { get; init; }

    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(30);

    public bool IsInsecure(string registry) =>
        InsecureRegistries.Any(r => string.Equals(r, registry, StringComparison.OrdinalIgnoreCase));
}

/// <summary>Per-blob progress of a pull or push. <see cref="Total"/> is -1 when unknown.</summary>
public sealed record PullProgress(string Digest, string Kind, long Current, long Total, PullPhase Phase);

public enum PullPhase
{
    /// <summary>Bytes are being transferred.</summary>
    Downloading = 1,
    /// <summary>The blob was already in the store (verified), nothing to fetch.</summary>
    AlreadyPresent = 2,
    /// <summary>The blob is stored and verified.</summary>
    Done = 3,
    /// <summary>The layer is being unpacked.</summary>
    Unpacking = 4,
    /// <summary>The layer is unpacked.</summary>
    Unpacked = 5,
    /// <summary>Bytes are being uploaded (push).</summary>
    Uploading = 6,
}
