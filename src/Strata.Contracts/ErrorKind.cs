namespace Strata.Contracts;

/// <summary>
/// Expected failures. Each maps to exactly one HTTP status in the daemon (ProblemMapping),
/// and the client maps it back, so CLI exit codes and messages stay stable.
/// </summary>
public enum ErrorKind
{
    /// <summary>The request is malformed or a value is out of range (400).</summary>
    InvalidArgument = 1,
    /// <summary>The named thing does not exist (404).</summary>
    NotFound = 2,
    /// <summary>The thing exists already, or the operation is illegal in the current state (409).</summary>
    Conflict = 3,
    /// <summary>The caller may not do this (403).</summary>
    Forbidden = 4,
    /// <summary>The caller is not authenticated (401).</summary>
    Unauthorized = 5,
    /// <summary>The tier or engine is not available on this host (503).</summary>
    Unavailable = 6,
    /// <summary>Something failed that should not have (500).</summary>
    Internal = 7,
    /// <summary>The operation was cancelled (499).</summary>
    Cancelled = 8,
}

/// <summary>An expected failure with a message that says what was wrong and what to do.</summary>
public sealed class StrataException : Exception
{
    public StrataException(ErrorKind kind, string message, string? field = null, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
        Field = field;
    }

    public ErrorKind Kind { get; }

    /// <summary>The request field the error is about (JSON path such as <c>resources.memoryBytes</c>), if any.</summary>
    public string? Field { get; }

    public static StrataException Invalid(string field, string message) => new(ErrorKind.InvalidArgument, $"{field}: {message}", field);
    public static StrataException NotFound(string what) => new(ErrorKind.NotFound, what);
    public static StrataException Conflict(string message) => new(ErrorKind.Conflict, message);
}
