using System.Collections.Concurrent;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace KeepAlive.AspNetCore.FunctionalTests.Faults;

/// <summary>
/// Captures Kestrel's own logs (categories <c>Microsoft.AspNetCore.Server.Kestrel*</c>, Debug and up).
/// The Sockets transport logs how the socket failed before it tells the app, which is how a fault test
/// tells a reset from a timeout:
/// a receive that fails with ECONNRESET is <c>ConnectionReset</c> (event 19); any other socket error,
/// ETIMEDOUT from a keepalive or user-timeout kill among them, is <c>ConnectionError</c> (event 14) with
/// the <see cref="SocketException"/> (dotnet/aspnetcore, Transport.Sockets SocketConnection.DoReceive).
/// A send that fails with EPIPE is logged as <c>ConnectionReset</c> too: a stream still writing after a
/// timeout kill shows both, so a timeout is "ETIMEDOUT was seen", and a reset is "a reset and no ETIMEDOUT".
/// </summary>
internal sealed class KestrelLogCapture : ILoggerProvider
{
    private const string KestrelCategory = "Microsoft.AspNetCore.Server.Kestrel";
    private const string SocketsCategory = "Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets";
    private readonly ConcurrentQueue<Entry> _entries = new();

    public IReadOnlyList<Entry> Entries => _entries.ToArray();

    /// <summary>The transport saw the peer reset the connection (ECONNRESET).</summary>
    public bool SawReset => Entries.Any(e => e is { Category: SocketsCategory, EventId.Name: "ConnectionReset" });

    /// <summary>The transport saw the kernel give up on the connection (ETIMEDOUT).</summary>
    public bool SawTimeout => Entries.Any(e => e is
        { Category: SocketsCategory, EventId.Name: "ConnectionError", Exception: SocketException { SocketErrorCode: SocketError.TimedOut } });

    /// <summary>How the transport says the connection ended, for the test output: the first of ETIMEDOUT, ECONNRESET, FIN.</summary>
    public string TransportVerdict =>
        Entries.Where(e => e.Category == SocketsCategory).Select(e => e switch
        {
            { EventId.Name: "ConnectionError", Exception: SocketException { SocketErrorCode: SocketError.TimedOut } } => "ETIMEDOUT",
            { EventId.Name: "ConnectionReset" } => "ECONNRESET or EPIPE",
            { EventId.Name: "ConnectionReadFin" } => "FIN (end of stream)",
            _ => null,
        }).FirstOrDefault(v => v is not null) ?? "nothing";

    public ILogger CreateLogger(string categoryName) =>
        categoryName.StartsWith(KestrelCategory, StringComparison.Ordinal) ? new Logger(this, categoryName) : NullLogger.Instance;

    public void Dispose()
    {
    }

    /// <summary>All entries, one per line, for a failure message.</summary>
    public override string ToString() => string.Join("\n", Entries);

    public sealed record Entry(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception)
    {
        public override string ToString() =>
            $"{Level} {Category}[{EventId.Id} {EventId.Name}] {Message}" + (Exception is null ? "" : $" ({Exception.GetType().Name}: {Exception.Message})");
    }

    private sealed class Logger(KestrelLogCapture capture, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
                capture._entries.Enqueue(new Entry(category, logLevel, eventId, formatter(state, exception), exception));
        }
    }
}
