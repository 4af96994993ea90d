namespace KeepAlive.AspNetCore;

/// <summary>
/// How the peer of an open connection is answering, read from TCP_INFO: the <c>keepalive.connection.state</c> attribute
/// of <c>keepalive.connections</c> and the <c>state</c> of the connection view. Declared worst first, the order the
/// view lists them in.
/// </summary>
internal enum ConnectionState : byte
{
    /// <summary>The peer's receive window is closed with data waiting: a live peer that stopped reading.</summary>
    ZeroWindow,

    /// <summary>Data the server sent is unacknowledged and being retransmitted: a peer gone while the server writes.</summary>
    Retransmitting,

    /// <summary>Keepalive probes are unanswered, nothing else outstanding: an idle peer silent past <c>Idle</c>.</summary>
    Probing,

    /// <summary>Nothing outstanding.</summary>
    Responsive,
}
