using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Logging;

/// <summary>
/// The tests' one log sink: it keeps what the app logged (<see cref="LogEntry"/>), and counts what an operator reads
/// after an outage: the library's one-line <c>ConnectionLost</c> events, and Kestrel's warnings and errors that carry an
/// exception (its "Connection processing ended abnormally" with a stack trace, per connection, is what the library
/// spares them; a warning without one, such as a slow heartbeat on a loaded machine, is not counted).
/// </summary>
/// <remarks>The outage benchmark compiles this file and <see cref="LogEntry"/>: nothing here may need xunit.</remarks>
internal sealed class LogSink : ILoggerProvider
{
    /// <summary>The library's logger category (KeepAliveLog.Category).</summary>
    public const string KeepAliveCategory = "KeepAlive.AspNetCore";

    /// <summary>The prefix of Kestrel's categories, its transports' among them.</summary>
    public const string KestrelCategory = "Microsoft.AspNetCore.Server.Kestrel";

    // Null when counting only.
    private readonly ConcurrentQueue<LogEntry>? _entries;
    private readonly string _categoryPrefix;
    private int _connectionLost, _kestrelExceptions;
    private string? _firstKestrelException;

    /// <summary>Keeps every entry the host's filters let through, of every category.</summary>
    public LogSink()
        : this(keep: true, categoryPrefix: "")
    {
    }

    private LogSink(bool keep, string categoryPrefix)
    {
        _entries = keep ? new ConcurrentQueue<LogEntry>() : null;
        _categoryPrefix = categoryPrefix;
    }

    /// <summary>Keeps Kestrel's own entries only (its transport's among them), for a test that reads how a connection ended.</summary>
    public static LogSink Kestrel() => new(keep: true, KestrelCategory);

    /// <summary>Keeps nothing, only counts, so that its memory does not grow with the connections it counts.</summary>
    public static LogSink Counting() => new(keep: false, "");

    /// <summary>The entries kept so far (none when <see cref="Counting"/>).</summary>
    public IReadOnlyList<LogEntry> Entries => _entries is null ? [] : [.. _entries];

    /// <summary>The library's entries.</summary>
    public IReadOnlyList<LogEntry> KeepAlive => [.. Entries.Where(e => e.Category == KeepAliveCategory)];

    /// <summary>The library's entries of the event named <paramref name="eventName"/>.</summary>
    public IReadOnlyList<LogEntry> KeepAliveEvents(string eventName) => [.. KeepAlive.Where(e => e.EventId.Name == eventName)];

    /// <summary>The library's <c>ConnectionLost</c> events so far.</summary>
    public int ConnectionLost => Volatile.Read(ref _connectionLost);

    /// <summary>Kestrel's entries at Warning or above with an exception, so far.</summary>
    public int KestrelExceptions => Volatile.Read(ref _kestrelExceptions);

    /// <summary>The first of those, for a failure message.</summary>
    public string? FirstKestrelException => Volatile.Read(ref _firstKestrelException);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    /// <summary>The entries kept, one per line, for a failure message.</summary>
    public override string ToString() => string.Join("\n", Entries);

    private bool Keeps(string category) => _entries is not null && category.StartsWith(_categoryPrefix, StringComparison.Ordinal);

    private static bool Counts(string category, LogLevel level) => category switch
    {
        KeepAliveCategory => level >= LogLevel.Information,
        _ => level >= LogLevel.Warning && category.StartsWith(KestrelCategory, StringComparison.Ordinal),
    };

    private void Write(LogEntry? entry, string category, LogLevel level, EventId eventId, Exception? exception, Func<string> message)
    {
        if (entry is not null)
            _entries!.Enqueue(entry);
        if (!Counts(category, level))
            return;
        if (category == KeepAliveCategory)
        {
            if (eventId.Name == "ConnectionLost")
                Interlocked.Increment(ref _connectionLost);
        }
        else if (exception is not null && Interlocked.Increment(ref _kestrelExceptions) == 1)
        {
            _firstKestrelException = $"{level} [{eventId}] {message()} ({exception.GetType().Name}: {exception.Message})";
        }
    }

    private sealed class Logger(LogSink sink, string category) : ILogger
    {
        private readonly bool _keeps = sink.Keeps(category);

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        // Entries neither kept nor counted are not even formatted: a counting sink costs the outage runs nothing else.
        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None && (_keeps || Counts(category, logLevel));

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
                return;
            var entry = _keeps
                ? new LogEntry(category, logLevel, eventId, formatter(state, exception), Fields(state), exception)
                : null;
            sink.Write(entry, category, logLevel, eventId, exception, () => entry?.Message ?? formatter(state, exception));
        }

        // [LoggerMessage] state is a list of the structured fields.
        private static Dictionary<string, object?> Fields<TState>(TState state) =>
            state is IEnumerable<KeyValuePair<string, object?>> pairs
                ? pairs.GroupBy(p => p.Key).ToDictionary(g => g.Key, g => g.First().Value)
                : [];
    }
}
