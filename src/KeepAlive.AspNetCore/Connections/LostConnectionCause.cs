namespace KeepAlive.AspNetCore;

/// <summary>Why the kernel ended a connection whose peer stopped answering; the <c>error.type</c> of the metrics.</summary>
internal enum LostConnectionCause
{
    /// <summary>Not lost: the peer closed or reset the connection in the normal course, or the server ended it.</summary>
    None,
    /// <summary>Keepalive probes went unanswered (ETIMEDOUT, probes sent).</summary>
    KeepAliveTimeout,
    /// <summary>Data stayed unacknowledged past the user timeout or the retransmission limit (ETIMEDOUT, retransmissions).</summary>
    UserTimeout,
    /// <summary>
    /// The peer answered, but its receive window stayed closed, with data waiting, past the user timeout: it stopped
    /// reading (ETIMEDOUT, window 0, unsent bytes, probes answered).
    /// </summary>
    ZeroWindow,
    /// <summary>The peer answered a keepalive probe with a reset: it rebooted and forgot the connection (ECONNRESET).</summary>
    ProbeReset,
    /// <summary>The network reported the peer unreachable (EHOSTUNREACH, ENETUNREACH).</summary>
    Unreachable,
    /// <summary>A kernel timeout whose kind could not be read: TCP_INFO was not there (the socket was gone, or not Linux).</summary>
    Timeout,
}
