using System.Security.Cryptography;
using System.Text;
using Strata.Contracts;

namespace Strata.Daemon.Api;

/// <summary>
/// Who may talk to the daemon. The unix socket is for administrators: its file mode (0660, root and the
/// <c>strata</c> group) is the access check. Every request on a TCP listener needs
/// <c>Authorization: Bearer TOKEN</c>; the token is compared in constant time and never logged.
/// </summary>
public sealed class Authentication
{
    private readonly byte[] _token;

    public Authentication(string token)
    {
        _token = Encoding.UTF8.GetBytes(token);
    }

    public static bool IsUnixSocket(HttpContext context) =>
        context.Connection.LocalIpAddress is null && context.Connection.RemoteIpAddress is null;

    public async Task Middleware(HttpContext context, RequestDelegate next)
    {
        if (!IsUnixSocket(context) && !HasValidToken(context))
        {
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"strata\"";
            await ProblemMapping.WriteAsync(context, new StrataException(ErrorKind.Unauthorized,
                "this listener needs a bearer token: pass --token or set STRATA_TOKEN (the daemon's token file is given by --token-file, or <root>/admin.token)")).ConfigureAwait(false);
            return;
        }
        await next(context).ConfigureAwait(false);
    }

    private bool HasValidToken(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        const string prefix = "Bearer ";
        if (!header.StartsWith(prefix, StringComparison.Ordinal))
        {
            return false;
        }
        var presented = Encoding.UTF8.GetBytes(header[prefix.Length..].Trim());
        return CryptographicOperations.FixedTimeEquals(presented, _token);
    }

    /// <summary>Reads the token file, or creates one (0600) with 256 random bits.</summary>
    public static string LoadOrCreateToken(string path)
    {
        if (File.Exists(path))
        {
            var existing = File.ReadAllText(path).Trim();
            if (existing.Length < 16)
            {
                throw StrataException.Invalid("--token-file", $"the token in {path} is shorter than 16 characters; use a longer random token");
            }
            return existing;
        }
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using (var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            stream.Write(Encoding.UTF8.GetBytes(token + "\n"));
        }
        return token;
    }
}
