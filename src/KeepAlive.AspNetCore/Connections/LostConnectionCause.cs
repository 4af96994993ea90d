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
    /// <summary>The peer answered a keepalive probe with a reset: it rebooted and forgot the connection (ECONNRESET).</summary>
    ProbeReset,
    /// <summary>The network reported the peer unreachable (EHOSTUNREACH, ENETUNREACH).</summary>
    Unreachable,
    /// <summary>A timeout where the socket was gone before it could tell probes from retransmissions.</summary>
    Timeout,
}
