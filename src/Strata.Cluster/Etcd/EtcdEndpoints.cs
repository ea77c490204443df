namespace Strata.Cluster.Etcd;

/// <summary>
/// The etcd members a node talks to, from <c>--cluster etcd://HOST:PORT[,HOST:PORT…]</c>: the members' client
/// URLs, <c>http</c> here; <see cref="EtcdConnection"/> makes them <c>https</c> when TLS flags are given
/// (<see cref="EtcdCredentials"/>, docs/cluster.md).
/// </summary>
public static class EtcdEndpoints
{
    public const string Scheme = "etcd://";

    /// <summary>The members' client URLs (<c>http://HOST:PORT</c>), or a <see cref="FormatException"/> naming the bad part and the form.</summary>
    public static IReadOnlyList<Uri> Parse(string connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (!connection.StartsWith(Scheme, StringComparison.Ordinal))
        {
            throw new FormatException($"--cluster '{connection}' must start with {Scheme}, e.g. etcd://10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379");
        }
        var members = new List<Uri>();
        foreach (var part in connection[Scheme.Length..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var colon = part.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(part[(colon + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port)
                || port is < 1 or > 65535 || !Uri.TryCreate("http://" + part, UriKind.Absolute, out var uri))
            {
                throw new FormatException($"--cluster member '{part}' is not HOST:PORT (e.g. 10.0.0.1:2379)");
            }
            members.Add(uri);
        }
        if (members.Count == 0)
        {
            throw new FormatException($"--cluster '{connection}' names no etcd member, e.g. etcd://10.0.0.1:2379");
        }
        return members;
    }
}
