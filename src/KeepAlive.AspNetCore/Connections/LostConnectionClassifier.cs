using System.Net.Sockets;

namespace KeepAlive.AspNetCore;

/// <summary>Tells from what the kernel and the connection's end say (<see cref="EndingEvidence"/>) why a connection was lost.</summary>
internal static class LostConnectionClassifier
{
    /// <summary>
    /// How long a packet the server sent may go unanswered before a timer above TCP that ends the connection is taken to
    /// have found a silent peer: a live peer answers within a round trip, and a lost segment is sent again within its
    /// retransmission timeout (200 ms at least, tcp_rto_min).
    /// </summary>
    public static readonly TimeSpan Silence = TimeSpan.FromSeconds(1);

    /// <summary>Every cause a lost connection is counted under.</summary>
    public static IReadOnlyList<LostConnectionCause> Causes { get; } =
    [
        LostConnectionCause.KeepAliveTimeout, LostConnectionCause.UserTimeout, LostConnectionCause.ZeroWindow,
        LostConnectionCause.ProbeReset, LostConnectionCause.Unreachable, LostConnectionCause.Timeout,
        LostConnectionCause.AppTimeout, LostConnectionCause.AppPingTimeout, LostConnectionCause.AppZeroWindow,
    ];

    public static string ToErrorType(this LostConnectionCause cause) => cause switch
    {
        LostConnectionCause.KeepAliveTimeout => "tcp_keepalive_timeout",
        LostConnectionCause.UserTimeout => "tcp_user_timeout",
        LostConnectionCause.ZeroWindow => "tcp_zero_window",
        LostConnectionCause.ProbeReset => "tcp_probe_reset",
        LostConnectionCause.Unreachable => "tcp_unreachable",
        LostConnectionCause.Timeout => "tcp_timeout",
        LostConnectionCause.AppTimeout => "app_timeout",
        LostConnectionCause.AppPingTimeout => "app_ping_timeout",
        LostConnectionCause.AppZeroWindow => "app_zero_window",
        _ => "",
    };

    /// <summary>Whether a socket error is the kernel giving up on the peer (Windows reports a keepalive kill as WSAENETRESET).</summary>
    public static bool IsKernelVerdict(SocketError? error) =>
        error is SocketError.TimedOut or SocketError.NetworkReset or SocketError.HostUnreachable or SocketError.NetworkUnreachable;

    /// <summary>Why the connection was lost, or <see cref="LostConnectionCause.None"/> when it was not.</summary>
    /// <param name="ending">What was seen of its end.</param>
    /// <param name="options">The policy in force: its probe count, idle time and user timeout are the kernel's rules.</param>
    public static LostConnectionCause Classify(in EndingEvidence ending, KeepAliveOptions options)
    {
        var error = ending.Error;
        if (error is SocketError.HostUnreachable or SocketError.NetworkUnreachable)
            return LostConnectionCause.Unreachable;
        if (!ending.HasReading)
            return IsTimeout(error) ? LostConnectionCause.Timeout : LostConnectionCause.None;

        // The kernel wakes the reader with the error (tcp_write_err: sk_error_report) just before it moves the socket
        // to TCP_CLOSE (tcp_done): with that error in hand, TCP_INFO read in between is the verdict's all the same.
        return ending.KernelClosed || IsKernelVerdict(error)
            ? ByKernel(ending, options)
            : AboveTcp(ending, options);
    }

    // The kernel ended it. A peer that resets the connection is no loss, whatever was outstanding: the kinds of timeout
    // are counted only with the kernel's ETIMEDOUT in hand, but for unanswered keepalive probes, whose end the kernel's
    // own rule tells.
    private static LostConnectionCause ByKernel(in EndingEvidence ending, KeepAliveOptions options)
    {
        var timedOut = IsTimeout(ending.Error);
        // Data outstanding when the kernel gave up: the peer stopped acknowledging it.
        if (ending.Retransmitting)
            return timedOut ? LostConnectionCause.UserTimeout : LostConnectionCause.None;

        // The peer's window closed with data waiting: if its last window probe was answered (an answer resets the
        // count), the peer is alive and stopped reading; if not, it stopped answering too.
        if (ending.WindowClosed)
            return !timedOut ? LostConnectionCause.None : ending.Probes == 0 ? LostConnectionCause.ZeroWindow : LostConnectionCause.UserTimeout;

        if (ending.Probes == 0)
            return timedOut ? LostConnectionCause.Timeout : LostConnectionCause.None;
        if (ending.Error is SocketError.ConnectionReset)
            return LostConnectionCause.ProbeReset;
        if (timedOut)
            return LostConnectionCause.KeepAliveTimeout;

        // No error seen yet: apply the kernel's own rule (tcp_keepalive_timer). It gives up when the probes reach
        // TCP_KEEPCNT, or, with a user timeout, once that much time passed since the last ACK. A reset that ended probing
        // sooner is the peer answering a probe.
        var userTimeout = options.EffectiveUserTimeout;
        var kernelGaveUp = userTimeout > TimeSpan.Zero
            ? ending.SinceLastAck >= userTimeout
            : ending.Probes >= options.ProbeCount;
        return kernelGaveUp ? LostConnectionCause.KeepAliveTimeout : LostConnectionCause.ProbeReset;
    }

    // The kernel holds it still: the application, its framework or Kestrel ended it. Lost when TCP shows the peer had
    // stopped answering (or, behind a proxy, when only a ping timer above TCP can tell).
    private static LostConnectionCause AboveTcp(in EndingEvidence ending, KeepAliveOptions options)
    {
        if (ending.PeerClosed || ending.Ender is ConnectionEnder.Transport or ConnectionEnder.Shutdown)
            return LostConnectionCause.None;

        var unanswered = ending.SinceLastAck >= Silence && (
            // Sent data (a ping, a close frame, an event) retransmitted and unacknowledged.
            (ending.Retransmitting && ending.Unacknowledged) ||
            // Window probes unanswered: the peer that stopped reading stopped answering too.
            (ending.WindowClosed && ending.Probes > 0) ||
            // Keepalive probes unanswered, the first of them for a second at least, whatever was sent since (the GOAWAY
            // Kestrel writes as it retires an idle HTTP/2 connection): a peer that answers resets the kernel's count.
            (options.Enabled && ending.Probes > 0 && !ending.WindowClosed && ending.SinceLastAck >= options.Idle + Silence));
        if (unanswered)
            return LostConnectionCause.AppTimeout;
        if (ending.WindowClosed)
            return ending.Ender == ConnectionEnder.KestrelTimeout ? LostConnectionCause.AppZeroWindow : LostConnectionCause.None;
        return ending.Ender is ConnectionEnder.WebSocketPing or ConnectionEnder.SignalR ? LostConnectionCause.AppPingTimeout : LostConnectionCause.None;
    }

    private static bool IsTimeout(SocketError? error) => error is SocketError.TimedOut or SocketError.NetworkReset;
}
