namespace Strata.Node.Logs;

/// <summary>Where an instance's logs live: <c>&lt;instanceDir&gt;/logs/current.log</c> (+ <c>current.log.1</c> after rotation).</summary>
public static class LogFiles
{
    public const string DirectoryName = Contracts.Drivers.InstanceLogs.DirectoryName;

    public static string LogDirectory(string instanceDir) => Contracts.Drivers.InstanceLogs.DirectoryOf(instanceDir);
}
