using System.Security.Cryptography;
using System.Text;
using Strata.Contracts;
using Strata.Control.Projects;

namespace Strata.Daemon.Api;

/// <summary>
/// Who is asking, resolved once per request (<see cref="Caller"/>), and whether they may (<see cref="Permissions"/>).
/// <list type="bullet">
/// <item>The unix socket is for host administrators: its file mode (0660, root and the <c>strata</c> group) is the
/// access check. They act in any project: <c>X-Strata-Project</c> or <c>?project=</c> picks it (default <c>default</c>).
/// A request on the socket that carries <c>Authorization: Bearer TOKEN</c> acts as that token instead, as on TCP.</item>
/// <item>A TCP listener needs <c>Authorization: Bearer TOKEN</c>: the daemon's own admin token (a host administrator,
/// as on the socket) or a project token, which acts in its project only, with its role.</item>
/// <item>In a cluster, another node forwarding a request presents the cluster token and names the caller it
/// authenticated (<see cref="Cluster.ClusterPeer"/>).</item>
/// </list>
/// Tokens are compared in constant time and never logged; a revoked token is refused from the next request on.
/// </summary>
public sealed class Authentication
{
    public const string ProjectHeader = "X-Strata-Project";

    private readonly byte[] _adminToken;
    private readonly ProjectService _projects;
    private readonly string? _clusterToken;

    /// <param name="clusterToken">In a cluster: the token other nodes present when they forward a request here.</param>
    public Authentication(string adminToken, ProjectService projects, string? clusterToken = null)
    {
        _adminToken = Encoding.UTF8.GetBytes(adminToken);
        _projects = projects;
        _clusterToken = clusterToken;
    }

    public static bool IsUnixSocket(HttpContext context) =>
        context.Connection.LocalIpAddress is null && context.Connection.RemoteIpAddress is null;

    public async Task Middleware(HttpContext context, RequestDelegate next)
    {
        Caller caller;
        try
        {
            caller = await ResolveAsync(context).ConfigureAwait(false);
            Permissions.Check(caller, context.Request.Method, context.Request.Path.Value ?? "/");
        }
        catch (StrataException e)
        {
            if (e.Kind == ErrorKind.Unauthorized)
            {
                context.Response.Headers.WWWAuthenticate = "Bearer realm=\"strata\"";
            }
            await ProblemMapping.WriteAsync(context, e).ConfigureAwait(false);
            return;
        }
        context.Items[typeof(Caller)] = caller;
        await next(context).ConfigureAwait(false);
    }

    private async Task<Caller> ResolveAsync(HttpContext context)
    {
        var named = NamedProject(context);
        var header = context.Request.Headers.Authorization.ToString();
        // A token sent over the socket is honoured: whoever tests a token there sees what the token may do,
        // not what the socket's owner may.
        if (IsUnixSocket(context) && header.Length == 0)
        {
            return Caller.HostAdmin(named ?? Control.InstanceService.DefaultProject);
        }
        const string prefix = "Bearer ";
        if (!header.StartsWith(prefix, StringComparison.Ordinal))
        {
            throw new StrataException(ErrorKind.Unauthorized,
                "this listener needs a bearer token: pass --token, set STRATA_TOKEN, or put it in the CLI config file (a project token from 'strata project token create', or the daemon's admin token file)");
        }
        var presented = header[prefix.Length..].Trim();
        if (CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), _adminToken))
        {
            return Caller.HostAdmin(named ?? Control.InstanceService.DefaultProject);
        }
        if (_clusterToken is not null && Strata.Cluster.ClusterTrust.Matches(_clusterToken, presented))
        {
            return Cluster.ClusterPeer.Resolve(context, named);
        }
        if (context.Request.Headers.ContainsKey(Cluster.ClusterPeer.CallerHeader))
        {
            throw Cluster.ClusterPeer.Refused(context);
        }
        var token = await _projects.AuthenticateAsync(presented, context.RequestAborted).ConfigureAwait(false)
            ?? throw new StrataException(ErrorKind.Unauthorized, "the bearer token is not valid (unknown, revoked, or its project was removed); ask the project's admin for a new one");
        if (named is not null && named != token.Project)
        {
            throw new StrataException(ErrorKind.Forbidden,
                $"this token belongs to project '{token.Project}' and acts only there; drop --project (or use a token of project '{named}')");
        }
        return new Caller(token.Project, token.Role, IsHostAdmin: false, token.Id);
    }

    private static string? NamedProject(HttpContext context)
    {
        var header = context.Request.Headers[ProjectHeader].ToString();
        if (header.Length > 0)
        {
            return header;
        }
        return context.Request.Query.TryGetValue("project", out var p) && !string.IsNullOrEmpty(p) ? p.ToString() : null;
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

/// <summary>
/// The authenticated caller of one request: the project it acts in and its role there. Host administrators
/// (the unix socket, or the daemon's admin token) hold <c>admin</c> in whichever project they name.
/// </summary>
public sealed record Caller(string Project, string Role, bool IsHostAdmin, string? TokenId)
{
    public static Caller HostAdmin(string project) => new(project, ProjectRoles.Admin, IsHostAdmin: true, null);

    public static Caller Of(HttpContext http) =>
        http.Items.TryGetValue(typeof(Caller), out var c) && c is Caller caller ? caller
        : throw new StrataException(ErrorKind.Internal, "internal error: the request has no authenticated caller");

    public bool Has(string role) => ProjectRoles.Rank(Role) >= ProjectRoles.Rank(role);
}

/// <summary>
/// What each role may call, in one table (docs/security.md shows it). Anything not listed needs a host
/// administrator, so a new endpoint is closed to tenants until it is added here.
/// </summary>
public static class Permissions
{
    /// <summary>The least a caller needs for the request: a project role, or null for host administrators only.</summary>
    public static string? Required(string method, string path)
    {
        var read = HttpMethods.IsGet(method) || HttpMethods.IsHead(method);
        var segments = path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        var first = segments.Length > 1 && segments[0] == "v1" ? segments[1] : segments.FirstOrDefault() ?? "";
        return first switch
        {
            // Commit writes an image into the store every project shares: host administrators only, like image changes.
            "instances" when IsCommit(segments) => null,
            "instances" => read && !IsTerminal(segments) ? ProjectRoles.Viewer : ProjectRoles.Operator,
            "apply" => ProjectRoles.Operator,
            "advise" => ProjectRoles.Viewer, // advice changes nothing
            // This host's measured costs (strata bench): the advisor quotes them to every project already, and
            // strata plan prices tiers with them. Storing a report stays with host administrators.
            "bench" when read => ProjectRoles.Viewer,
            "recommendations" when read => ProjectRoles.Viewer, // the caller's project's only
            // The plan names the caller's own instances only; carrying it out moves any project's: host administrators.
            "rebalance" when read => ProjectRoles.Viewer,
            // A tenant sees its own project's series only (SystemEndpoints); host-wide ones are for administrators.
            "metrics" when read => ProjectRoles.Viewer,
            "info" or "events" or "openapi" when read => ProjectRoles.Viewer,
            // Images are one store for the whole host: everyone may read it, only host administrators change it.
            "images" or "operations" when read => ProjectRoles.Viewer,
            // Operations are the project's own (another project's are 404): its operators cancel them (a pull: host administrators only).
            "operations" => ProjectRoles.Operator,
            "projects" => ProjectPath(read, segments),
            // A project's own bridges: its operators make and remove them (other projects' networks are 404).
            "networks" => read ? ProjectRoles.Viewer : ProjectRoles.Operator,
            // A project's own managed volumes, as a cold move carries them (other projects' are theirs alone).
            "volumes" => read ? ProjectRoles.Viewer : ProjectRoles.Operator,
            _ => null, // /v1/daemon/stop, image changes, anything new
        };
    }

    /// <summary>
    /// <c>v1/instances/{name}/commit</c>: turns an instance into an image of the shared store. Routes match without
    /// regard to case, so this does too (<c>/COMMIT</c> reaches the same endpoint).
    /// </summary>
    private static bool IsCommit(string[] segments) =>
        segments.Length == 4 && segments[0] == "v1"
        && segments[1].Equals("instances", StringComparison.OrdinalIgnoreCase) && segments[3].Equals("commit", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// A shell or console WebSocket is a GET that runs commands: operators only. Matched without regard to case,
    /// as the router matches (<c>/CONSOLE</c> reaches the console endpoint).
    /// </summary>
    private static bool IsTerminal(string[] segments) =>
        segments.Length >= 4
        && (segments[^1].Equals("console", StringComparison.OrdinalIgnoreCase)
            || (segments[^2].Equals("exec", StringComparison.OrdinalIgnoreCase) && segments[^1].Equals("attach", StringComparison.OrdinalIgnoreCase)));

    private static string? ProjectPath(bool read, string[] segments)
    {
        // v1/projects[/{name}[/tokens[/{id}]]]  and  v1/projects/{name}/{quota|restrictions}
        if (segments.Length >= 4 && segments[3] == "tokens")
        {
            return ProjectRoles.Admin;
        }
        if (segments.Length >= 4 && segments[3] == "rightsize")
        {
            return ProjectRoles.Admin; // the project's default right-sizing mode: its own project only (another is 404)
        }
        if (read)
        {
            return ProjectRoles.Viewer; // the endpoint shows a token only its own project
        }
        return null; // create, remove, set quota or restrictions: host administrators only
    }

    public static void Check(Caller caller, string method, string path)
    {
        if (caller.IsHostAdmin)
        {
            return;
        }
        var required = Required(method, path);
        if (required is null && IsCommit(path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries)))
        {
            throw new StrataException(ErrorKind.Forbidden,
                $"a project token ({caller.Role} of '{caller.Project}') cannot commit an instance: images are one store shared by every project on this host, and only host administrators change it (docs/security.md, 'Images'); keep the instance's files in your project with 'strata snapshot create NAME', or ask a host administrator to commit it");
        }
        if (required is null)
        {
            throw new StrataException(ErrorKind.Forbidden,
                $"{method} {path} is for host administrators (the unix socket or the daemon's admin token); a project token ({caller.Role} of '{caller.Project}') cannot call it");
        }
        if (!caller.Has(required))
        {
            throw new StrataException(ErrorKind.Forbidden,
                $"a {caller.Role} of project '{caller.Project}' may not {Verb(method, path)}; that needs the {required} role (ask the project's admin for a token with it)");
        }
    }

    private static string Verb(string method, string path) =>
        path.Contains("/tokens", StringComparison.Ordinal) ? "manage tokens"
        : path.EndsWith("/console", StringComparison.Ordinal) || path.EndsWith("/exec/attach", StringComparison.Ordinal) ? "open a shell or console"
        : HttpMethods.IsPost(method) && path.TrimEnd('/').EndsWith("/v1/instances", StringComparison.Ordinal) ? "create instances"
        : HttpMethods.IsDelete(method) ? "remove anything"
        : $"change anything ({method} {path})";
}
