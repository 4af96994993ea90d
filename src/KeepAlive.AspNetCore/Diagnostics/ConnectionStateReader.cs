namespace KeepAlive.AspNetCore;

/// <summary>
/// The <see cref="ConnectionState"/> of many connections for one collection: with one NETLINK_SOCK_DIAG dump
/// (<see cref="InetDiagTcpDump"/>) matched to the sockets by addresses and ports; with one getsockopt(TCP_INFO) per
/// socket where asked, where netlink is unavailable or where the dump fails. Not thread-safe: its owner reads under
/// its own lock.
/// </summary>
/// <remarks>
/// The dump walks the kernel's whole table of connected TCP sockets (a fixed cost, however few are in it, plus a little
/// per socket: docs/benchmarks.md), once for both address families. Where all
/// the connections share one local port (one listening port, the common case) it asks for that port only: the kernel
/// then fills and sends nothing for the other sockets (the clients' ends on a loopback test, other servers). With
/// several ports it takes every socket and skips the ones it does not know. The index of keys
/// (<see cref="TcpConnectionIndex"/>) is kept between collections, so a collection allocates nothing per connection.
/// </remarks>
internal sealed class ConnectionStateReader
{
    private readonly TcpConnectionIndex _index = new();

    /// <summary>
    /// Writes the state of each of <paramref name="connections"/> into <paramref name="states"/> at its index;
    /// <see langword="null"/> for a connection that is gone (or off Linux, where there is no TCP_INFO). Where
    /// <paramref name="counts"/> is not empty, also how far into its state each one is: its unanswered probes or
    /// retransmissions. <paramref name="useNetlink"/>: false reads each socket with getsockopt. Never throws.
    /// </summary>
    public void Read(ReadOnlySpan<KeepAliveConnection> connections, Span<ConnectionState?> states, bool useNetlink = true, Span<byte> counts = default)
    {
        states[..connections.Length].Clear();
        if (!counts.IsEmpty)
            counts[..connections.Length].Clear();
        if (!useNetlink || !InetDiagTcpDump.IsAvailable)
        {
            ReadEach(connections, states, counts);
            return;
        }

        _index.Reset(connections.Length);
        ushort port = 0;
        var several = false;
        for (var i = 0; i < connections.Length; i++)
        {
            // The socket's end points as accepted, kept in the connection itself: its socket and Kestrel's connection
            // stay untouched, which at 10,000 connections is a good part of a collection's time.
            var connection = connections[i];
            if (!TcpConnectionKey.TryCreate(connection.SocketLocalEndPoint, connection.SocketRemoteEndPoint, out var key))
            {
                // No end points (not a TCP socket we can name): one getsockopt.
                ReadOne(connections, i, states, counts);
                continue;
            }
            if (!_index.TryAdd(key, i, out var first))
            {
                // Two connections by one pair of addresses and ports: one has ended (it leaves the list when Kestrel
                // disposes it), and the kernel gave the pair to a new one. The dump cannot tell them apart; each one's
                // own socket can.
                _index.Remove(first);
                ReadOne(connections, first, states, counts);
                ReadOne(connections, i, states, counts);
                continue;
            }
            several |= port != 0 && key.LocalPort != port;
            port = key.LocalPort;
        }

        if (_index.Count > 0 && !InetDiagTcpDump.TryReadStates(several ? (ushort)0 : port, _index, states, counts))
            ReadEach(connections, states, counts);
    }

    // getsockopt for the connections that have no state yet.
    private static void ReadEach(ReadOnlySpan<KeepAliveConnection> connections, Span<ConnectionState?> states, Span<byte> counts)
    {
        for (var i = 0; i < connections.Length; i++)
        {
            if (states[i] is null)
                ReadOne(connections, i, states, counts);
        }
    }

    private static void ReadOne(ReadOnlySpan<KeepAliveConnection> connections, int i, Span<ConnectionState?> states, Span<byte> counts)
    {
        if (!ConnectionStateClassifier.TryRead(connections[i].Socket, out var info, out var state))
            return;
        states[i] = state;
        if (!counts.IsEmpty)
            counts[i] = Math.Max(info.Probes, info.Retransmits);
    }
}
