using Microsoft.Extensions.Logging;

namespace KeepAlive.AspNetCore.FunctionalTests.Faults;

/// <summary>
/// Counts, without keeping them, the log entries an operator reads after an outage: the library's
/// one-line <c>ConnectionLost</c> events, and Kestrel's warnings and errors that carry an exception (its
/// "Connection processing ended abnormally" with a stack trace, per connection, is what the library
/// spares them; a warning without one, such as a slow heartbeat on a loaded machine, is not counted).
/// Counters only, so that its memory does not grow with the connections it counts.
/// </summary>
internal sealed class LogTally : ILoggerProvider
{
    // The library's logger category (KeepAliveLog.Category).
    private const string KeepAliveCategory = "KeepAlive.AspNetCore";
    private const string KestrelCategory = "Microsoft.AspNetCore.Server.Kestrel";

    private int _connectionLost, _kestrelExceptions;
    private string? _firstKestrelException;

    /// <summary>The library's <c>ConnectionLost</c> events so far.</summary>
    public int ConnectionLost => Volatile.Read(ref _connectionLost);

    /// <summary>Kestrel's entries at Warning or above with an exception, so far.</summary>
    public int KestrelExceptions => Volatile.Read(ref _kestrelExceptions);

    /// <summary>The first of those, for a failure message.</summary>
    public string? FirstKestrelException => Volatile.Read(ref _firstKestrelException);

    public ILogger CreateLogger(string categoryName) => categoryName switch
    {
        KeepAliveCategory => new Logger(this, LogLevel.Information),
        _ when categoryName.StartsWith(KestrelCategory, StringComparison.Ordinal) => new Logger(this, LogLevel.Warning),
        _ => new Logger(null, LogLevel.None),
    };

    public void Dispose()
    {
    }

    private sealed class Logger(LogTally? tally, LogLevel minimum) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => tally is not null && logLevel >= minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
                return;
            if (minimum == LogLevel.Information)
            {
                if (eventId.Name == "ConnectionLost")
                    Interlocked.Increment(ref tally!._connectionLost);
                return;
            }
            if (exception is not null && Interlocked.Increment(ref tally!._kestrelExceptions) == 1)
                tally._firstKestrelException = $"{logLevel} [{eventId}] {formatter(state, exception)} ({exception.GetType().Name}: {exception.Message})";
        }
    }
}
