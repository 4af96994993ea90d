using System.Net.Sockets;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Logging;

/// <summary>
/// How Kestrel's Sockets transport says a connection ended, read from a <see cref="LogSink"/> that kept Kestrel's
/// entries at Debug (<see cref="LogSink.Kestrel"/>). The transport logs how the socket failed before it tells the app,
/// which is how a fault test tells a reset from a timeout:
/// a receive that fails with ECONNRESET is <c>ConnectionReset</c> (event 19); any other socket error,
/// ETIMEDOUT from a keepalive or user-timeout kill among them, is <c>ConnectionError</c> (event 14) with
/// the <see cref="SocketException"/> (dotnet/aspnetcore, Transport.Sockets SocketConnection.DoReceive).
/// A send that fails with EPIPE is logged as <c>ConnectionReset</c> too: a stream still writing after a
/// timeout kill shows both, so a timeout is "ETIMEDOUT was seen", and a reset is "a reset and no ETIMEDOUT".
/// </summary>
internal static class TransportEvents
{
    private const string SocketsCategory = "Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets";

    extension(LogSink logs)
    {
        /// <summary>The transport saw the peer reset the connection (ECONNRESET).</summary>
        public bool SawReset => logs.Entries.Any(e => e is { Category: SocketsCategory, EventId.Name: "ConnectionReset" });

        /// <summary>The transport saw the kernel give up on the connection (ETIMEDOUT).</summary>
        public bool SawTimeout => logs.Entries.Any(e => e is
            { Category: SocketsCategory, EventId.Name: "ConnectionError", Exception: SocketException { SocketErrorCode: SocketError.TimedOut } });

        /// <summary>How the transport says the connection ended, for the test output: the first of ETIMEDOUT, ECONNRESET, FIN.</summary>
        public string TransportVerdict =>
            logs.Entries.Where(e => e.Category == SocketsCategory).Select(e => e switch
            {
                { EventId.Name: "ConnectionError", Exception: SocketException { SocketErrorCode: SocketError.TimedOut } } => "ETIMEDOUT",
                { EventId.Name: "ConnectionReset" } => "ECONNRESET or EPIPE",
                { EventId.Name: "ConnectionReadFin" } => "FIN (end of stream)",
                _ => null,
            }).FirstOrDefault(v => v is not null) ?? "nothing";
    }
}
