using System.Diagnostics;

namespace KeepAlive.AspNetCore;

/// <summary>
/// Which timer above TCP aborted a connection, read from the caller's stack. A WebSocket's keepalive timeout and SignalR's
/// client timeout both end in <c>HttpContext.Abort()</c> with Kestrel's "The connection was aborted by the application."
/// (through ASP.NET Core's WebSocket AbortStream), which no exception, feature or event tells apart from the app's own
/// abort; the frames that made the call do. Read only on the rare path, when the kernel still holds the connection and
/// the cause depends on it: a stack walk costs tens of microseconds.
/// </summary>
/// <remarks>
/// The frames are framework internals: should a version rename them, the abort reads as the application's, and a peer
/// lost behind a proxy is then not counted rather than counted wrongly. Where stack frames carry no method (native AOT),
/// the same.
/// </remarks>
internal static class AbortOrigin
{
    // .NET's ManagedWebSocket (System.Net.WebSockets): its keepalive heartbeat disposes the socket only when a PING went
    // unanswered for KeepAliveTimeout.
    private const string ManagedWebSocket = "System.Net.WebSockets.ManagedWebSocket";
    private const string KeepAlivePingHeartBeat = "KeepAlivePingHeartBeat";
    // SignalR's WebSockets transport aborts its socket when its close went unanswered for CloseTimeout, after the hub
    // ended the connection (ClientTimeoutInterval, or the app).
    private const string SignalRWebSocketsTransport = "Microsoft.AspNetCore.Http.Connections.Internal.Transports.WebSocketsServerTransport";
    // Kestrel's timeouts (minimum data rates, request headers) are checked, and their connections aborted, by its
    // TimeoutControl on the heartbeat (CheckForWriteDataRateTimeout for a reader too slow).
    private const string KestrelTimeoutControl = "Microsoft.AspNetCore.Server.Kestrel.Core.Internal.Infrastructure.TimeoutControl";

    // Kestrel's CoreStrings.ConnectionAbortedByApplication, the reason HttpContext.Abort() gives (Kestrel's strings are
    // not localized).
    private const string ApplicationAbortMessage = "The connection was aborted by the application.";

    // Kestrel's CoreStrings.ConnectionTimedBecauseResponseMininumDataRateNotSatisfied: its minimum response data rate, the
    // reader too slow. Told by the reason, not the stack: tiered compilation inlines TimeoutControl's frames once hot.
    private const string MinimumResponseDataRateMessage =
        "The connection was timed out by the server because the response was not read by the client at the specified minimum data rate.";

    /// <summary>Whether <paramref name="reason"/> is Kestrel's for a response not read at its minimum data rate.</summary>
    public static bool IsMinimumResponseDataRate(Exception? reason) => reason?.Message == MinimumResponseDataRateMessage;

    /// <summary>Whether <paramref name="reason"/> is <c>HttpContext.Abort()</c>'s: the one a ping timer above TCP ends in.</summary>
    public static bool IsApplicationAbort(Exception? reason) => reason?.Message == ApplicationAbortMessage;

    /// <summary>The timer on the current stack, or <see cref="ConnectionEnder.Application"/>.</summary>
    public static ConnectionEnder Find()
    {
        foreach (var frame in new StackTrace(skipFrames: 2, fNeedFileInfo: false).GetFrames())
        {
            var method = frame.GetMethod();
            // An async method's frame is its state machine's MoveNext, a type nested in the method's own type.
            var type = method?.DeclaringType;
            while (type?.DeclaringType is { } outer && type.Name.StartsWith('<'))
                type = outer;
            switch (type?.FullName)
            {
                case ManagedWebSocket when method!.Name == KeepAlivePingHeartBeat:
                    return ConnectionEnder.WebSocketPing;
                case SignalRWebSocketsTransport:
                    return ConnectionEnder.SignalR;
                case KestrelTimeoutControl:
                    return ConnectionEnder.KestrelTimeout;
            }
        }
        return ConnectionEnder.Application;
    }
}
