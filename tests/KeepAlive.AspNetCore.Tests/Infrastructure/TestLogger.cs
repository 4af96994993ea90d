using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace KeepAlive.AspNetCore.Tests.Infrastructure;

/// <summary>Keeps every log entry written to it, so a test can assert on level, event and message.</summary>
internal sealed class TestLogger : ILogger
{
    private readonly ConcurrentQueue<LogEntry> _entries = new();

    public IReadOnlyList<LogEntry> Entries => _entries.ToArray();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        _entries.Enqueue(new LogEntry(logLevel, eventId, formatter(state, exception), exception));
}

internal sealed record LogEntry(LogLevel Level, EventId EventId, string Message, Exception? Exception);
