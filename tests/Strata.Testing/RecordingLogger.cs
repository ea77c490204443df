using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Strata.Testing;

/// <summary>One log line as a component wrote it: its event id, level and formatted message.</summary>
public sealed record LoggedLine(EventId EventId, LogLevel Level, string Message, Exception? Exception);

/// <summary>An <see cref="ILogger{T}"/> that keeps every line, for tests that check what a component logs.</summary>
public sealed class RecordingLogger<T> : ILogger<T>
{
    private readonly ConcurrentQueue<LoggedLine> _lines = new();

    public IReadOnlyList<LoggedLine> Lines => [.. _lines];

    /// <summary>The lines with event id <paramref name="id"/>.</summary>
    public IReadOnlyList<LoggedLine> WithId(int id) => [.. _lines.Where(l => l.EventId.Id == id)];

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        _lines.Enqueue(new LoggedLine(eventId, logLevel, formatter(state, exception), exception));
}
