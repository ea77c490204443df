namespace Strata.Node.Drivers.Process;

/// <summary>Finds a command the way execvp will, so a typo is a 400 at create time rather than exit 127 later.</summary>
public static class ExecutableResolver
{
    public const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public static string? Resolve(string command, string path, string workingDir)
    {
        if (command.Contains('/'))
        {
            var full = Path.IsPathRooted(command) ? command : Path.Combine(workingDir, command);
            return IsExecutable(full) ? full : null;
        }
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, command);
            if (IsExecutable(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    private static bool IsExecutable(string file)
    {
        try
        {
            if (!File.Exists(file))
            {
                return false;
            }
            var mode = File.GetUnixFileMode(file);
            return (mode & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }
}
