using System.Text.RegularExpressions;

namespace Strata.Contracts.Host;

/// <summary>
/// The name of a node (<c>stratad --node NAME</c>): the host-global resources a daemon makes derive from it, and a
/// cluster knows its members by it. 1–32 characters of lower-case letters, digits and inner dashes; the default is
/// <see cref="Default"/>, under which an install keeps the names it always had.
/// </summary>
public static partial class NodeName
{
    public const string Default = "local";

    public static bool IsValid(string? name) => name is not null && Pattern().IsMatch(name);

    /// <summary>The name, or an <see cref="ErrorKind.InvalidArgument"/> naming <paramref name="field"/> and the rule.</summary>
    public static string Validate(string field, string? name) =>
        IsValid(name)
            ? name!
            : throw StrataException.Invalid(field, $"'{name}' is not a node name: use 1-32 lower-case letters, digits and inner dashes, such as 'node-1'");

    [GeneratedRegex("^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
