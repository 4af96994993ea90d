using System.Net.Sockets;

namespace KeepAlive.AspNetCore;

/// <summary>Tells from TCP_INFO how an open connection's peer is answering (<see cref="ConnectionState"/>).</summary>
internal static class ConnectionStateClassifier
{
    /// <summary>Every state, worst first.</summary>
    public static IReadOnlyList<ConnectionState> States { get; } =
        [ConnectionState.ZeroWindow, ConnectionState.Retransmitting, ConnectionState.Probing, ConnectionState.Responsive];

    /// <summary>The states as the attribute and the view's query name them, comma-separated, for messages.</summary>
    public static string AllowedValues { get; } = string.Join(", ", States.Select(s => s.ToAttribute()));

    /// <summary>
    /// The state of a connection whose TCP_INFO reads <paramref name="info"/>. A closed window comes first: zero-window
    /// probes count in <c>tcpi_probes</c> too, but that peer is alive. Keepalive probes are only sent while nothing is
    /// unacknowledged (tcp_keepalive_timer), so probes with data outstanding are not the idle case.
    /// </summary>
    public static ConnectionState Of(in TcpConnectionInfo info) =>
        info.WindowClosedWithDataWaiting ? ConnectionState.ZeroWindow :
        info.Retransmits > 0 ? ConnectionState.Retransmitting :
        info.Probes > 0 && info.Unacked == 0 ? ConnectionState.Probing :
        ConnectionState.Responsive;

    /// <summary>
    /// The state of a connection as a socket dump reads it (<see cref="InetDiagTcpDump"/>): the timer the kernel has
    /// pending for it and that timer's count, <c>struct inet_diag_msg</c>'s idiag_timer and idiag_retrans as
    /// inet_sk_diag_fill (net/ipv4/inet_diag.c) sets them. The same states as <see cref="Of(in TcpConnectionInfo)"/>,
    /// told by the timer the kernel runs in each:
    /// <list type="bullet">
    /// <item>4, the zero-window probe timer (ICSK_TIME_PROBE0): armed while data waits and nothing is in flight, which
    /// happens when the peer's window is closed, or too small for a segment; its count is the window probes.</item>
    /// <item>1, the retransmission timer (with the loss-probe and reordering timers): with a count, icsk_retransmits,
    /// as tcpi_retransmits.</item>
    /// <item>2, the keepalive timer (sk_timer), reported only when none of the others is pending, so with nothing in
    /// flight: with a count, icsk_probes_out, as tcpi_probes.</item>
    /// </list>
    /// The two readings differ in two cases: for the round trip between a window closing and the last data in flight
    /// being acknowledged (TCP_INFO already reads a closed window; the retransmission timer still runs), and for a peer
    /// that advertises a window open but smaller than the next segment, which the kernel probes as closed and TCP_INFO
    /// reads as open (receivers avoid such windows; Linux's advertise 0 instead).
    /// </summary>
    public static ConnectionState Of(byte timer, byte count) => timer switch
    {
        4 => ConnectionState.ZeroWindow,
        1 when count > 0 => ConnectionState.Retransmitting,
        2 when count > 0 => ConnectionState.Probing,
        _ => ConnectionState.Responsive,
    };

    /// <summary>
    /// Reads a connection's TCP_INFO with one getsockopt and its state: <see langword="false"/> once its socket is gone,
    /// off Linux, or when the kernel has ended it (TCP_CLOSE, so the socket dump no longer lists it either). The gauge
    /// and the connection view both count a connection as open by this rule.
    /// </summary>
    public static bool TryRead(Socket socket, out TcpConnectionInfo info, out ConnectionState state)
    {
        if (TcpConnectionInfo.TryRead(socket, out info) && info.State != TcpConnectionInfo.Closed)
        {
            state = Of(info);
            return true;
        }
        state = default;
        return false;
    }

    public static string ToAttribute(this ConnectionState state) => state switch
    {
        ConnectionState.ZeroWindow => "zero_window",
        ConnectionState.Retransmitting => "retransmitting",
        ConnectionState.Probing => "probing",
        _ => "responsive",
    };

    /// <summary>Reads a state as <see cref="ToAttribute"/> writes it (ordinal, ignoring case).</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out ConnectionState state)
    {
        foreach (var candidate in States)
        {
            if (text.Equals(candidate.ToAttribute(), StringComparison.OrdinalIgnoreCase))
            {
                state = candidate;
                return true;
            }
        }
        state = default;
        return false;
    }
}
