using System.Collections.Concurrent;
using System.Security.Cryptography;
using Strata.Contracts.Drivers;

namespace Strata.Daemon.DockerApi;

/// <summary>
/// Exec instances of the Docker API (created, then started, then inspected for their exit code). They live in
/// memory: an exec outlives neither its container nor the daemon. Finished ones are forgotten after a while.
/// </summary>
internal sealed class DockerExecs
{
    private const int Keep = 512;
    private readonly ConcurrentDictionary<string, DockerExec> _execs = new(StringComparer.Ordinal);

    public DockerExec Add(string project, string instanceId, string containerName, ExecRequest request, bool stdin, bool stdout, bool stderr)
    {
        if (_execs.Count >= Keep)
        {
            foreach (var old in _execs.Values.Where(e => e.ExitCode is not null).OrderBy(e => e.Created).Take(_execs.Count - Keep + 1))
            {
                _execs.TryRemove(old.Id, out _);
            }
        }
        var exec = new DockerExec(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)), project, instanceId, containerName, request, stdin, stdout, stderr);
        _execs[exec.Id] = exec;
        return exec;
    }

    /// <summary>The exec with that ID (or unique prefix) in the project; 404 otherwise, other projects' included.</summary>
    public DockerExec Get(string project, string id)
    {
        var matches = _execs.Values.Where(e => e.Project == project && e.Id.StartsWith(id, StringComparison.Ordinal)).Take(2).ToList();
        return matches.Count == 1 && id.Length > 0 ? matches[0] : throw Contracts.StrataException.NotFound($"No such exec instance: {id}");
    }
}

internal sealed class DockerExec(string id, string project, string instanceId, string containerName, ExecRequest request, bool stdin, bool stdout, bool stderr)
{
    public string Id { get; } = id;
    public string Project { get; } = project;
    public string InstanceId { get; } = instanceId;
    public string ContainerName { get; } = containerName;
    public ExecRequest Request { get; } = request;
    public bool Stdin { get; } = stdin;
    public bool Stdout { get; } = stdout;
    public bool Stderr { get; } = stderr;
    public DateTimeOffset Created { get; } = DateTimeOffset.UtcNow;
    public volatile bool Running;
    public int Started;
    public int? ExitCode { get; set; }
    public ExecSession? Session { get; set; }
}
