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
