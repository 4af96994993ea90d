using System.Collections.Concurrent;

namespace KeepAlive.AspNetCore.FunctionalTests.ReadBack;

/// <summary>Keeps every log entry written through it, for assertions on what the library logged and how often.</summary>
internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    // The library's logger category (KeepAliveLog.Category).
    public const string KeepAliveCategory = "KeepAlive.AspNetCore";

    private readonly ConcurrentQueue<LogEntry> _entries = new();

    public IReadOnlyList<LogEntry> Entries => [.. _entries];

    public IReadOnlyList<LogEntry> KeepAlive => [.. _entries.Where(e => e.Category == KeepAliveCategory)];

    public IReadOnlyList<LogEntry> KeepAliveEvents(string eventName) => [.. KeepAlive.Where(e => e.EventId.Name == eventName)];

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _entries);

    public void Dispose()
    {
    }

    public sealed record LogEntry(string Category, LogLevel Level, EventId EventId, string Message, IReadOnlyDictionary<string, object?> Fields, Exception? Exception);

    private sealed class Logger(string category, ConcurrentQueue<LogEntry> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            // [LoggerMessage] state is a list of the structured fields; keep them so tests need not parse messages.
            var fields = state is IEnumerable<KeyValuePair<string, object?>> pairs
                ? pairs.GroupBy(p => p.Key).ToDictionary(g => g.Key, g => g.First().Value)
                : new Dictionary<string, object?>();
            entries.Enqueue(new LogEntry(category, logLevel, eventId, formatter(state, exception), fields, exception));
        }
    }
}
