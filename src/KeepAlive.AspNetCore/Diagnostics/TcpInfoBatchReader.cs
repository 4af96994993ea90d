using System.Net.Sockets;

namespace KeepAlive.AspNetCore;

/// <summary>
/// TCP_INFO of many connections for one collection: with NETLINK_SOCK_DIAG dumps (<see cref="InetDiagTcpDump"/>), one
/// per address family, matched to the sockets by addresses and ports; with one getsockopt per socket where netlink is
/// unavailable or a dump fails. Not thread-safe: its owner reads under its own lock.
/// </summary>
/// <remarks>
/// Each dump walks the kernel's whole table of connected TCP sockets (262,144 buckets here, 2 MiB: about 2 ms on the
/// machine of docs/benchmarks.md, whatever the number of connections), so there is one per address family, never one
/// per port. Where all of a family's connections share one local port (one listening port, the common case) the dump
/// asks for that port only: the kernel then fills and sends no tcp_info for the other sockets (the clients' ends on a
/// loopback test, other servers). With several ports it takes every socket of the family and skips the ones it does
/// not know. The index of keys is kept between collections (cleared, its capacity kept), so a collection allocates
/// nothing per connection.
/// </remarks>
internal sealed class TcpInfoBatchReader
{
    private readonly Dictionary<TcpConnectionKey, int> _indexes = [];

    /// <summary>
    /// Reads the TCP_INFO of each of <paramref name="sockets"/> into <paramref name="infos"/> at its index; an entry
    /// whose <see cref="TcpConnectionInfo.State"/> is 0 is a connection that is gone (or no TCP_INFO: not Linux).
    /// <paramref name="useNetlink"/>: false reads each socket with getsockopt (tests compare the two). Never throws.
    /// </summary>
    public void Read(ReadOnlySpan<Socket> sockets, Span<TcpConnectionInfo> infos, bool useNetlink = true)
    {
        infos[..sockets.Length].Clear();
        if (!useNetlink || !InetDiagTcpDump.IsAvailable)
        {
            ReadEach(sockets, infos, ipv4: true, ipv6: true);
            return;
        }

        _indexes.Clear();
        var ipv4 = new PortFilter();
        var ipv6 = new PortFilter();
        for (var i = 0; i < sockets.Length; i++)
        {
            var socket = sockets[i];
            if (!TcpConnectionKey.TryCreate(socket, out var key) || !_indexes.TryAdd(key, i))
            {
                // No end points (not a TCP socket we can name), or gone: as before, one getsockopt.
                TcpConnectionInfo.TryRead(socket, out infos[i]);
                continue;
            }
            if (socket.AddressFamily == AddressFamily.InterNetworkV6)
                ipv6.Add(key.LocalPort);
            else
                ipv4.Add(key.LocalPort);
        }

        var ipv4Failed = ipv4.Any && !InetDiagTcpDump.TryDump(ipv6: false, ipv4.Port, _indexes, infos);
        var ipv6Failed = ipv6.Any && !InetDiagTcpDump.TryDump(ipv6: true, ipv6.Port, _indexes, infos);
        if (ipv4Failed || ipv6Failed)
            ReadEach(sockets, infos, ipv4Failed, ipv6Failed);
        _indexes.Clear();
    }

    // getsockopt for the sockets of the families asked for that have no TCP_INFO yet.
    private static void ReadEach(ReadOnlySpan<Socket> sockets, Span<TcpConnectionInfo> infos, bool ipv4, bool ipv6)
    {
        for (var i = 0; i < sockets.Length; i++)
        {
            if (infos[i].State == 0 && (sockets[i].AddressFamily == AddressFamily.InterNetworkV6 ? ipv6 : ipv4))
                TcpConnectionInfo.TryRead(sockets[i], out infos[i]);
        }
    }

    /// <summary>The local port a family's dump asks for: the one its connections share, or 0 (any) if they have several.</summary>
    private struct PortFilter
    {
        private ushort _port;
        private bool _several;

        public bool Any { get; private set; }

        public readonly ushort Port => _several ? (ushort)0 : _port;

        public void Add(ushort port)
        {
            if (!Any)
            {
                Any = true;
                _port = port;
            }
            else if (port != _port)
            {
                _several = true;
            }
        }
    }
}
