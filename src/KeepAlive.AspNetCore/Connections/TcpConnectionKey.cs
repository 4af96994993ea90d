using System.Buffers.Binary;
using System.Net;

namespace KeepAlive.AspNetCore;

/// <summary>
/// A TCP connection's addresses and ports, as a NETLINK_SOCK_DIAG dump names it and as the connection's socket knows
/// them: the key that matches the dump's replies to the open connections. IPv4 addresses are kept as IPv4-mapped IPv6
/// addresses, the form a dual-stack socket has (and reports) for an IPv4 peer, so both kinds share one key space.
/// </summary>
internal readonly record struct TcpConnectionKey(UInt128 LocalAddress, UInt128 RemoteAddress, ushort LocalPort, ushort RemotePort)
{
    /// <summary>
    /// The key of a connection whose socket's end points are <paramref name="localEndPoint"/> and
    /// <paramref name="remoteEndPoint"/> (as the socket reported them at accept); <see langword="false"/> unless both are
    /// IP end points.
    /// </summary>
    public static bool TryCreate(EndPoint? localEndPoint, EndPoint? remoteEndPoint, out TcpConnectionKey key)
    {
        if (localEndPoint is not IPEndPoint local || remoteEndPoint is not IPEndPoint remote)
        {
            key = default;
            return false;
        }
        key = new TcpConnectionKey(Mapped(local.Address), Mapped(remote.Address), (ushort)local.Port, (ushort)remote.Port);
        return true;
    }

    /// <summary>
    /// The key of a socket in a dump, from <c>struct inet_diag_sockid</c> (include/uapi/linux/inet_diag.h): idiag_sport
    /// and idiag_dport at 0 and 2, idiag_src at 4 and idiag_dst at 20, all in network byte order; an AF_INET socket's
    /// address is the first 4 bytes of its 16.
    /// </summary>
    public static TcpConnectionKey FromInetDiagSockId(ReadOnlySpan<byte> sockId, bool ipv4) => new(
        ipv4 ? Mapped(BinaryPrimitives.ReadUInt32BigEndian(sockId[4..])) : Address(sockId.Slice(4, 16)),
        ipv4 ? Mapped(BinaryPrimitives.ReadUInt32BigEndian(sockId[20..])) : Address(sockId.Slice(20, 16)),
        BinaryPrimitives.ReadUInt16BigEndian(sockId),
        BinaryPrimitives.ReadUInt16BigEndian(sockId[2..]));

    // An address as the number its 16 bytes (network order) spell, IPv4 as ::ffff:a.b.c.d: no copy, on either byte order.
    private static UInt128 Mapped(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out var written);
        return written == 4 ? Mapped(BinaryPrimitives.ReadUInt32BigEndian(bytes)) : Address(bytes);
    }

    private static UInt128 Address(ReadOnlySpan<byte> ipv6) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(ipv6), BinaryPrimitives.ReadUInt64BigEndian(ipv6[8..]));

    private static UInt128 Mapped(uint ipv4) => new(0, 0xFFFF_0000_0000UL | ipv4);
}
