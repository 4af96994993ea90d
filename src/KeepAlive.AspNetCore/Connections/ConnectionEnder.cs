namespace KeepAlive.AspNetCore;

/// <summary>What ended a connection, as far as the library can tell (see <see cref="EndingEvidence"/>).</summary>
internal enum ConnectionEnder : byte
{
    /// <summary>The transport: its receive or send failed, or it completed (the peer closed, or the kernel ended it).</summary>
    Transport,

    /// <summary>The application, through <c>HttpContext.Abort()</c> or a connection middleware's abort.</summary>
    Application,

    /// <summary>A WebSocket's keepalive: its PING went unanswered for <c>KeepAliveTimeout</c> (.NET's ManagedWebSocket).</summary>
    WebSocketPing,

    /// <summary>SignalR's WebSockets transport: the client went silent past <c>ClientTimeoutInterval</c> and left its close unanswered.</summary>
    SignalR,

    /// <summary>Kestrel's own timeouts (its minimum response data rate, say).</summary>
    KestrelTimeout,

    /// <summary>Kestrel closed it gracefully, with no abort: its HTTP/2 keepalive ping or its keep-alive timeout.</summary>
    Kestrel,

    /// <summary>The host was shutting down.</summary>
    Shutdown,
}
