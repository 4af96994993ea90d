using System.Net.Sockets;

namespace KeepAlive.AspNetCore;

/// <summary>Tells from what the kernel reports why a connection was lost.</summary>
internal static class LostConnectionClassifier
{
    public static string ToErrorType(this LostConnectionCause cause) => cause switch
    {
        LostConnectionCause.KeepAliveTimeout => "keepalive_timeout",
        LostConnectionCause.UserTimeout => "user_timeout",
        LostConnectionCause.ProbeReset => "probe_reset",
        LostConnectionCause.Unreachable => "unreachable",
        LostConnectionCause.Timeout => "timeout",
        _ => "",
    };

    /// <summary>
    /// Tells why the kernel ended a connection, from TCP_INFO read before the socket was closed and, when
    /// one was seen, the error the transport's receive returned.
    /// </summary>
    /// <param name="info">TCP_INFO, or <see langword="null"/> when it could not be read (socket gone, not Linux).</param>
    /// <param name="error">The receive error, or <see langword="null"/> when none was seen.</param>
    /// <param name="options">The policy in force: its probe count and user timeout tell a probe reset from a timeout.</param>
    public static LostConnectionCause Classify(TcpConnectionInfo? info, SocketError? error, KeepAliveOptions options)
    {
        if (error is SocketError.HostUnreachable or SocketError.NetworkUnreachable)
            return LostConnectionCause.Unreachable;

        if (info is not { State: TcpConnectionInfo.Closed } closed)
        {
            // Still open or half closed (FIN): the server or the peer ended it normally. Without TCP_INFO only
            // the error can tell; Windows reports a keepalive kill as WSAENETRESET.
            return info is null && error is SocketError.TimedOut or SocketError.NetworkReset
                ? LostConnectionCause.Timeout
                : LostConnectionCause.None;
        }

        // Probes or retransmissions outstanding when the kernel closed it: the peer stopped answering.
        // Neither: a reset outside probing, which is an ordinary client reset.
        if (closed.Retransmits > 0)
            return error is SocketError.ConnectionReset ? LostConnectionCause.None : LostConnectionCause.UserTimeout;
        if (closed.Probes == 0)
            return LostConnectionCause.None;
        if (error is SocketError.ConnectionReset)
            return LostConnectionCause.ProbeReset;
        if (error is SocketError.TimedOut)
            return LostConnectionCause.KeepAliveTimeout;

        // No error seen yet: apply the kernel's own rule (tcp_keepalive_timer). It gives up when the probes
        // reach TCP_KEEPCNT, or, with a user timeout, once that much time passed since the last ACK. A reset
        // that ended probing sooner is the peer answering a probe.
        var userTimeout = options.EffectiveUserTimeout;
        var timedOut = closed.Probes >= options.ProbeCount ||
            (userTimeout > TimeSpan.Zero && closed.LastAckReceivedMilliseconds >= userTimeout.TotalMilliseconds);
        return timedOut ? LostConnectionCause.KeepAliveTimeout : LostConnectionCause.ProbeReset;
    }
}
