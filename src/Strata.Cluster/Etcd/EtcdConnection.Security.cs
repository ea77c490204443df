using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Etcdserverpb;
using Grpc.Core;

namespace Strata.Cluster.Etcd;

/// <summary>A credential flag whose file or value cannot be used; <see cref="Flag"/> names the flag to fix.</summary>
public sealed class EtcdCredentialsException(string flag, string message) : Exception(message)
{
    public string Flag { get; } = flag;
}

/// <summary>TLS to the etcd members (CA, client certificate) and etcd's user/password authentication.</summary>
public sealed partial class EtcdConnection
{
    private readonly EtcdCredentials _credentials;
    private readonly X509Certificate2Collection? _trusted;
    private readonly X509Certificate2? _clientCertificate;
    private readonly SemaphoreSlim _authenticating = new(1, 1);
    private volatile string? _token;
    private volatile string? _certificateProblem;

    /// <summary>Reads and checks the TLS files of <paramref name="c"/>: each problem names its flag and the fix.</summary>
    public static (X509Certificate2Collection? Trusted, X509Certificate2? Client) LoadTls(EtcdCredentials c)
    {
        ArgumentNullException.ThrowIfNull(c);
        X509Certificate2Collection? trusted = null;
        if (c.CaFile is { } ca)
        {
            if (!File.Exists(ca))
            {
                throw new EtcdCredentialsException("--etcd-cacert", $"{ca} does not exist: give the PEM file of the CA that signed the etcd members' certificates");
            }
            trusted = [];
            try
            {
                trusted.ImportFromPemFile(ca);
            }
            catch (CryptographicException e)
            {
                throw new EtcdCredentialsException("--etcd-cacert", $"{ca} is not a PEM certificate file: {e.Message}");
            }
            if (trusted.Count == 0)
            {
                throw new EtcdCredentialsException("--etcd-cacert", $"{ca} holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
            }
        }
        if ((c.CertFile is null) != (c.KeyFile is null))
        {
            throw new EtcdCredentialsException(c.CertFile is null ? "--etcd-cert" : "--etcd-key",
                "--etcd-cert and --etcd-key go together: the client certificate and its private key, both PEM");
        }
        X509Certificate2? client = null;
        if (c.CertFile is { } cert && c.KeyFile is { } key)
        {
            foreach (var (flag, path) in new[] { ("--etcd-cert", cert), ("--etcd-key", key) })
            {
                if (!File.Exists(path))
                {
                    throw new EtcdCredentialsException(flag, $"{path} does not exist: give the PEM {(flag == "--etcd-cert" ? "client certificate" : "private key of the client certificate")} etcd trusts (its --trusted-ca-file signed it)");
                }
            }
            if ((File.GetUnixFileMode(key) & (UnixFileMode.OtherRead | UnixFileMode.GroupRead)) != 0)
            {
                throw new EtcdCredentialsException("--etcd-key", $"{key} is readable by others; the key of the etcd client certificate must be private: chmod 600 {key}");
            }
            try
            {
                client = X509Certificate2.CreateFromPemFile(cert, key);
            }
            catch (CryptographicException e)
            {
                throw new EtcdCredentialsException("--etcd-cert", $"{cert} with the key {key} cannot be used: {e.Message} (both must be PEM, and the key must be the certificate's)");
            }
            if (client.NotAfter < DateTime.Now)
            {
                throw new EtcdCredentialsException("--etcd-cert", $"{cert} expired on {client.NotAfter:u}: give a current client certificate");
            }
        }
        return (trusted, client);
    }

    private SocketsHttpHandler Handler()
    {
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            ConnectTimeout = TimeSpan.FromSeconds(1),
            KeepAlivePingDelay = TimeSpan.FromSeconds(5),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(3),
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
        };
        if (_credentials.Tls)
        {
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificates = _clientCertificate is null ? null : [_clientCertificate],
                RemoteCertificateValidationCallback = _trusted is null ? null : Validate,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            };
        }
        return handler;
    }

    /// <summary>The member's certificate must chain to <c>--etcd-cacert</c> and name the host it was reached by.</summary>
    private bool Validate(object sender, X509Certificate? certificate, X509Chain? _, SslPolicyErrors errors)
    {
        if (certificate is null)
        {
            _certificateProblem = "the etcd member sent no certificate";
            return false;
        }
        using var presented = new X509Certificate2(certificate);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_trusted!);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (!chain.Build(presented))
        {
            _certificateProblem = $"the etcd member's certificate ({presented.Subject}, issued by {presented.Issuer}) is not signed by a CA in --etcd-cacert " +
                $"({string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Distinct())})";
            return false;
        }
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            _certificateProblem = $"the etcd member's certificate ({presented.Subject}) does not name the host it was reached by; its subject alternative names must include the address in --cluster";
            return false;
        }
        _certificateProblem = null;
        return true;
    }

    /// <summary>
    /// Why no member could be reached, in terms of the TLS flags, when TLS is what failed: the member's certificate
    /// was refused here, or the member ended the connection during the TLS or HTTP/2 handshake (with
    /// <c>--client-cert-auth</c> it does so when the client certificate is missing or not signed by its
    /// <c>--trusted-ca-file</c>). Null when nothing listens or the members answered (no quorum).
    /// </summary>
    private string? TlsProblem(RpcException? last)
    {
        if (_certificateProblem is { } problem)
        {
            return problem + ". Fix --etcd-cacert or the members' certificates";
        }
        if (!_credentials.Tls || last?.Status.DebugException is not { } debug)
        {
            return null;
        }
        var chain = new List<Exception>();
        for (Exception? e = debug; e is not null; e = e.InnerException)
        {
            chain.Add(e);
        }
        if (chain.OfType<AuthenticationException>().FirstOrDefault() is { } auth)
        {
            return $"the TLS handshake with etcd failed ({auth.Message.ReplaceLineEndings(" ")}). Check --etcd-cacert, --etcd-cert and --etcd-key";
        }
        var handshake = chain.FirstOrDefault(e => e.Message.Contains("handshake", StringComparison.OrdinalIgnoreCase));
        if (handshake is null || chain.Any(e => e is System.Net.Sockets.SocketException))
        {
            return null;
        }
        var innermost = handshake.Message.ReplaceLineEndings(" ");
        return _clientCertificate is null
            ? $"etcd ended the connection during the handshake ({innermost}); a member run with --client-cert-auth needs a client certificate: give --etcd-cert and --etcd-key"
            : $"etcd ended the connection during the handshake ({innermost}); a member run with --client-cert-auth takes only client certificates its --trusted-ca-file signed: check --etcd-cert and --etcd-key";
    }

    /// <summary>Adds the current auth token to a call's headers (etcd's <c>token</c> metadata).</summary>
    private Metadata AddToken(Metadata headers)
    {
        if (_token is { } token)
        {
            headers.Add("token", token);
        }
        return headers;
    }

    /// <summary>The auth token, fetched from etcd with the user and password when there is none yet.</summary>
    private async Task EnsureTokenAsync(CancellationToken ct)
    {
        if (_credentials.User is null || _token is not null)
        {
            return;
        }
        await _authenticating.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_token is not null)
            {
                return;
            }
            var r = await RunOnMembersAsync((c, d, t) => new Auth.AuthClient(c).AuthenticateAsync(
                new AuthenticateRequest { Name = _credentials.User, Password = _credentials.Password ?? "" }, deadline: d, cancellationToken: t).ResponseAsync, ct, null, authenticated: false).ConfigureAwait(false);
            _token = r.Token;
        }
        catch (EtcdRequestException e)
        {
            throw new EtcdRequestException(e.Status == StatusCode.FailedPrecondition
                ? $"etcd has no authentication enabled, yet --etcd-user {_credentials.User} was given: drop --etcd-user (and the password), or enable it on etcd ('etcdctl auth enable')"
                : $"etcd refused user '{_credentials.User}': {e.Detail}. Check --etcd-user and the password in {_credentials.PasswordSource}", e.InnerException);
        }
        finally
        {
            _authenticating.Release();
        }
    }

    /// <summary>The error for a call etcd refused: authentication problems name the flags that fix them.</summary>
    private EtcdRequestException Refused(RpcException e)
    {
        var detail = e.Status.Detail;
        if (e.StatusCode is StatusCode.Unauthenticated or StatusCode.PermissionDenied || detail.Contains("user name is empty", StringComparison.Ordinal))
        {
            var fix = _credentials.User is not null
                ? $"user '{_credentials.User}' (--etcd-user) lacks the permission: grant it a role with read and write on /strata/ ('etcdctl role grant-permission ROLE --prefix=true readwrite /strata/')"
                : _clientCertificate is not null
                    ? $"the client certificate's common name ({_clientCertificate.GetNameInfo(X509NameType.SimpleName, false)}, --etcd-cert) is the etcd user: create that user with a role that may read and write /strata/, or give --etcd-user and --etcd-password-file"
                    : "etcd requires authentication: give --etcd-user with --etcd-password-file (or STRATA_ETCD_PASSWORD), or a client certificate (--etcd-cert, --etcd-key) whose common name is an etcd user";
            return new EtcdRequestException($"etcd refused the request ({detail}): {fix}", e);
        }
        return new EtcdRequestException("etcd refused the request: " + detail, e);
    }

    private static bool IsInvalidToken(EtcdRequestException e) =>
        e.InnerException is RpcException r && r.Status.Detail.Contains("invalid auth token", StringComparison.Ordinal);
}
