namespace KeepAlive.AspNetCore;

/// <summary>
/// Why a connection was lost: what its peer did, and what noticed it: the kernel's TCP timers (<c>tcp_</c>), or a timer
/// above TCP, the application's, its framework's or Kestrel's (<c>app_</c>). The <c>error.type</c> of the metrics.
/// </summary>
internal enum LostConnectionCause : byte
{
    /// <summary>Not lost: the peer closed or reset the connection in the normal course, or the server ended it for a live peer.</summary>
    None,
    /// <summary>The kernel: keepalive probes went unanswered (ETIMEDOUT, probes sent).</summary>
    KeepAliveTimeout,
    /// <summary>The kernel: data stayed unacknowledged past the user timeout or the retransmission limit (ETIMEDOUT, retransmissions).</summary>
    UserTimeout,
    /// <summary>
    /// The kernel: the peer answered, but its receive window stayed closed, with data waiting, past the user timeout: it
    /// stopped reading (ETIMEDOUT, window 0, unsent bytes, probes answered).
    /// </summary>
    ZeroWindow,
    /// <summary>The kernel: the peer answered a keepalive probe with a reset: it rebooted and forgot the connection (ECONNRESET).</summary>
    ProbeReset,
    /// <summary>The kernel: the network reported the peer unreachable (EHOSTUNREACH, ENETUNREACH).</summary>
    Unreachable,
    /// <summary>The kernel: a timeout whose kind could not be read: TCP_INFO was not there (the socket was gone, or not Linux).</summary>
    Timeout,
    /// <summary>
    /// Above TCP: the application, its framework (SignalR, a WebSocket's keepalive) or Kestrel (HTTP/2 keepalive pings)
    /// ended the connection while TCP showed its peer had stopped answering: data or keepalive probes unacknowledged.
    /// </summary>
    AppTimeout,
    /// <summary>
    /// Above TCP: a WebSocket's keepalive ping or SignalR's client timeout ended the connection while its TCP peer kept
    /// answering: the client behind a proxy stopped answering (or its app hung).
    /// </summary>
    AppPingTimeout,
    /// <summary>Above TCP: Kestrel's minimum response data rate ended a connection whose peer had stopped reading (window closed).</summary>
    AppZeroWindow,
}
