using System.Net.Sockets;

namespace KeepAlive.AspNetCore;

/// <summary>Tells from what the kernel reports why a connection was lost.</summary>
internal static class LostConnectionClassifier
{
    /// <summary>Every cause a lost connection is counted under.</summary>
    public static IReadOnlyList<LostConnectionCause> Causes { get; } =
    [
        LostConnectionCause.KeepAliveTimeout, LostConnectionCause.UserTimeout, LostConnectionCause.ZeroWindow,
        LostConnectionCause.ProbeReset, LostConnectionCause.Unreachable, LostConnectionCause.Timeout,
    ];

    public static string ToErrorType(this LostConnectionCause cause) => cause switch
    {
        LostConnectionCause.KeepAliveTimeout => "keepalive_timeout",
        LostConnectionCause.UserTimeout => "user_timeout",
        LostConnectionCause.ZeroWindow => "zero_window",
        LostConnectionCause.ProbeReset => "probe_reset",
        LostConnectionCause.Unreachable => "unreachable",
        LostConnectionCause.Timeout => "timeout",
        _ => "",
    };

    /// <summary>Whether a receive error is the kernel giving up on the peer (Windows reports a keepalive kill as WSAENETRESET).</summary>
    public static bool IsKernelVerdict(SocketError? error) =>
        error is SocketError.TimedOut or SocketError.NetworkReset or SocketError.HostUnreachable or SocketError.NetworkUnreachable;

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

        if (info is not { } ended)
            return error is SocketError.TimedOut or SocketError.NetworkReset ? LostConnectionCause.Timeout : LostConnectionCause.None;

        // The kernel wakes the reader with the error (tcp_write_err: sk_error_report) just before it moves the socket
        // to TCP_CLOSE (tcp_done): with that error in hand, TCP_INFO read in between is the verdict's all the same.
        if (ended.State != TcpConnectionInfo.Closed && !IsKernelVerdict(error))
            return LostConnectionCause.None; // still open or half closed (FIN): ended normally

        // Data outstanding when the kernel gave up: the peer stopped acknowledging it. A reset then is an ordinary one.
        if (ended.Retransmits > 0)
            return error is SocketError.ConnectionReset ? LostConnectionCause.None : LostConnectionCause.UserTimeout;

        // The peer's window closed with data waiting: if its last window probe was answered (an answer resets the
        // count), the peer is alive and stopped reading; if not, it stopped answering too.
        if (ended.WindowClosedWithDataWaiting && error is not SocketError.ConnectionReset)
            return ended.Probes == 0 ? LostConnectionCause.ZeroWindow : LostConnectionCause.UserTimeout;

        if (ended.Probes == 0)
            return error is SocketError.TimedOut ? LostConnectionCause.Timeout : LostConnectionCause.None;
        if (error is SocketError.ConnectionReset)
            return LostConnectionCause.ProbeReset;
        if (error is SocketError.TimedOut)
            return LostConnectionCause.KeepAliveTimeout;

        // No error seen yet: apply the kernel's own rule (tcp_keepalive_timer). It gives up when the probes
        // reach TCP_KEEPCNT, or, with a user timeout, once that much time passed since the last ACK. A reset
        // that ended probing sooner is the peer answering a probe.
        var userTimeout = options.EffectiveUserTimeout;
        var timedOut = userTimeout > TimeSpan.Zero
            ? ended.LastAckReceivedMilliseconds >= userTimeout.TotalMilliseconds
            : ended.Probes >= options.ProbeCount;
        return timedOut ? LostConnectionCause.KeepAliveTimeout : LostConnectionCause.ProbeReset;
    }
}
