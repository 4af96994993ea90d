using System.Net.Sockets;

namespace KeepAlive.AspNetCore;

/// <summary>
/// TCP_INFO of many connections for one collection: with NETLINK_SOCK_DIAG dumps (<see cref="InetDiagTcpDump"/>), one
/// per address family and listening port, matched to the sockets by addresses and ports; with one getsockopt per
/// socket where netlink is unavailable or a dump fails. Not thread-safe: its owner reads under its own lock.
/// </summary>
/// <remarks>
/// Only the sockets whose local port is one of the connections' (the listening ports) are dumped: the kernel still walks
/// the namespace's TCP table, but fills and sends no tcp_info for the others (the clients' ends on a loopback test,
/// other servers). With more than <see cref="MaxPorts"/> ports in one family, that family's dump takes every port and
/// skips the sockets it does not know. The index of keys is kept between collections (cleared, its capacity kept), so a
/// collection allocates nothing per connection.
/// </remarks>
internal sealed class TcpInfoBatchReader
{
    private const int MaxPorts = 8;

    private readonly Dictionary<TcpConnectionKey, int> _indexes = [];
    private readonly ushort[] _ipv4Ports = new ushort[MaxPorts];
    private readonly ushort[] _ipv6Ports = new ushort[MaxPorts];

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
        int ipv4Ports = 0, ipv6Ports = 0;
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
                AddPort(_ipv6Ports, ref ipv6Ports, key.LocalPort);
            else
                AddPort(_ipv4Ports, ref ipv4Ports, key.LocalPort);
        }

        var ipv4Failed = !Dump(ipv6: false, _ipv4Ports, ipv4Ports, infos);
        var ipv6Failed = !Dump(ipv6: true, _ipv6Ports, ipv6Ports, infos);
        if (ipv4Failed || ipv6Failed)
            ReadEach(sockets, infos, ipv4Failed, ipv6Failed);
        _indexes.Clear();
    }

    // Every listening port of a family (count > MaxPorts: port 0, all of them); true if every dump succeeded.
    private bool Dump(bool ipv6, ushort[] ports, int count, Span<TcpConnectionInfo> infos)
    {
        if (count > MaxPorts)
            return InetDiagTcpDump.TryDump(ipv6, localPort: 0, _indexes, infos);
        for (var i = 0; i < count; i++)
        {
            if (!InetDiagTcpDump.TryDump(ipv6, ports[i], _indexes, infos))
                return false;
        }
        return true;
    }

    private static void AddPort(ushort[] ports, ref int count, ushort port)
    {
        if (count > MaxPorts || ports.AsSpan(0, count).Contains(port))
            return;
        if (count < MaxPorts)
            ports[count] = port;
        count++;
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
}
