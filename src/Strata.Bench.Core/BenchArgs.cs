using System.Globalization;

namespace Strata.Bench.Core;

/// <summary>The command line of a benchmark program: <c>--name value</c> options and bare <c>--flag</c>s.</summary>
public sealed class BenchArgs(IReadOnlyList<string> args)
{
    /// <summary>The value after <paramref name="name"/>, else <paramref name="fallback"/>; missing both is an error naming the option.</summary>
    public string Get(string name, string? fallback = null)
    {
        for (var i = 0; i + 1 < args.Count; i++)
        {
            if (args[i] == name)
            {
                return args[i + 1];
            }
        }
        return fallback ?? throw new ArgumentException($"missing {name}");
    }

    public int Int(string name, int fallback) => int.Parse(Get(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);

    public bool Has(string flag) => args.Contains(flag);
}
