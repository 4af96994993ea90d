using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Network;

/// <summary>
/// The fields of Linux's <c>struct tcp_info</c> (getsockopt IPPROTO_TCP 6, TCP_INFO 11) the fault tests
/// look at (native byte order): whether the server still holds the connection, and whether it is retransmitting to a peer
/// that no longer answers. Byte offsets from include/uapi/linux/tcp.h.
/// </summary>
internal readonly record struct TcpInfo(TcpState State, byte Retransmits, byte Probes, uint Unacked, uint TotalRetransmits)
{
    private const int IpProtoTcp = 6, TcpInfoOption = 11;

    /// <summary>Reads the socket's TCP_INFO; <see langword="null"/> once the socket was closed.</summary>
    public static TcpInfo? Read(Socket socket)
    {
        Span<byte> info = stackalloc byte[104];
        try
        {
            var length = socket.GetRawSocketOption(IpProtoTcp, TcpInfoOption, info);
            if (length < 104)
                throw new InvalidOperationException($"TCP_INFO returned {length} bytes; total_retrans needs 104.");
        }
        catch (ObjectDisposedException)
        {
            return null;
        }
        return new TcpInfo(
            (TcpState)info[0],
            Retransmits: info[2],
            Probes: info[3],
            Unacked: MemoryMarshal.Read<uint>(info[24..]),
            TotalRetransmits: MemoryMarshal.Read<uint>(info[100..]));
    }
}
