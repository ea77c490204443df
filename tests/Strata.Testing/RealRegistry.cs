using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Strata.Images;

namespace Strata.Testing;

/// <summary>
/// A real registry (Debian's docker-registry, distribution 2.8) on a free loopback port with its own storage,
/// optionally with token auth backed by <see cref="TokenServer"/>. Skips (fails under CI=true) without docker-registry.
/// </summary>
public sealed class RealRegistry : IDisposable
{
    private readonly Process _process;
    private readonly TempDirectory _dir = new("strata-registry");

    public RealRegistry(TokenServer? tokens = null)
    {
        const string binary = "/usr/bin/docker-registry";
        TestEnvironment.Require(File.Exists(binary), $"{binary} is missing; install the Debian package 'docker-registry' (scripts/deps/images.txt)");
        Port = TestEnvironment.FreeLoopbackPort();
        Storage = _dir.Combine("storage");
        Directory.CreateDirectory(Storage);
        var auth = "";
        if (tokens is not null)
        {
            var bundle = Path.Combine(_dir.Path, "root.pem");
            File.WriteAllText(bundle, tokens.CertificatePem);
            auth = $"""
                auth:
                  token:
                    realm: {tokens.Realm}
                    service: {TokenServer.Service}
                    issuer: {TokenServer.Issuer}
                    rootcertbundle: {bundle}
                """;
        }
        var config = Path.Combine(_dir.Path, "config.yml");
        File.WriteAllText(config, $"""
            version: 0.1
            log:
              level: error
            storage:
              filesystem:
                rootdirectory: {Storage}
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:{Port}
            {auth}
            """);
        var start = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("serve");
        start.ArgumentList.Add(config);
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        WaitUntilServing();
    }

    public int Port { get; }

    public string Host => $"127.0.0.1:{Port}";

    public string Storage { get; }

    /// <summary>The file holding a blob's bytes in the registry's filesystem storage.</summary>
    public string BlobDataPath(Digest digest) =>
        Path.Combine(Storage, "docker", "registry", "v2", "blobs", "sha256", digest.Hex[..2], digest.Hex, "data");

    private void WaitUntilServing()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"docker-registry exited with {_process.ExitCode}");
            }
            try
            {
                using var response = http.GetAsync($"http://{Host}/v2/").GetAwaiter().GetResult();
                if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized)
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet, or (on a loaded machine) slow to answer one request: ask again until the deadline.
            }
            // Polling a readiness condition with a deadline (the registry offers no readiness event).
            Thread.Sleep(50);
        }
        throw new TimeoutException($"docker-registry did not answer on {Host} within 20 s");
    }

    public void Dispose()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
        _dir.Dispose();
    }
}

/// <summary>
/// A Docker-token-spec token server: checks Basic credentials, then signs an ES256 JWT whose x5c header carries a
/// self-signed certificate the registry trusts (its rootcertbundle), granting the requested scope.
/// </summary>
public sealed class TokenServer : IDisposable
{
    public const string Service = "strata-test-registry";
    public const string Issuer = "strata-test-issuer";
    private readonly HttpListener _listener = new();
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly X509Certificate2 _certificate;
    private readonly string _user;
    private readonly string _password;
    private readonly Task _loop;

    public TokenServer(string user, string password)
    {
        _user = user;
        _password = password;
        var request = new CertificateRequest("CN=strata-test-token-issuer", _key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        _certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var port = TestEnvironment.FreeLoopbackPort();
        Realm = $"http://127.0.0.1:{port}/token";
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    public string Realm { get; }

    public string CertificatePem => _certificate.ExportCertificatePem();

    public int Issued { get; private set; }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
            {
                return;
            }
            var response = context.Response;
            var expected = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{_user}:{_password}"));
            if (context.Request.Headers["Authorization"] != expected)
            {
                response.StatusCode = 401;
                await WriteAsync(response, """{"details":"incorrect username or password"}""");
                continue;
            }
            var scopes = context.Request.QueryString.GetValues("scope") ?? [];
            var access = scopes.Select(s => s.Split(':')).Where(p => p.Length == 3)
                .Select(p => new Dictionary<string, object> { ["type"] = p[0], ["name"] = p[1], ["actions"] = p[2].Split(',') }).ToList();
            var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            var header = JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["typ"] = "JWT",
                ["alg"] = "ES256",
                ["x5c"] = new[] { Convert.ToBase64String(_certificate.RawData) },
            });
            var claims = JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["iss"] = Issuer,
                ["sub"] = _user,
                ["aud"] = Service,
                ["exp"] = now + 300,
                ["nbf"] = now - 10,
                ["iat"] = now,
                ["jti"] = Guid.NewGuid().ToString("N"),
                ["access"] = access,
            });
            var signingInput = B64(Encoding.UTF8.GetBytes(header)) + "." + B64(Encoding.UTF8.GetBytes(claims));
            var signature = _key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
            Issued++;
            await WriteAsync(response, JsonSerializer.Serialize(new Dictionary<string, object> { ["token"] = signingInput + "." + B64(signature), ["expires_in"] = 300 }));
        }
    }

    private static async Task WriteAsync(HttpListenerResponse response, string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        response.ContentType = "application/json";
        response.ContentLength64 = bytes.Length;
        await response.OutputStream.WriteAsync(bytes);
        response.Close();
    }

    private static string B64(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _ = _loop.Wait(TimeSpan.FromSeconds(5));
        _certificate.Dispose();
        _key.Dispose();
    }
}
