using System.Buffers.Binary;
using System.Net.Sockets;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The few fields of Linux's <c>struct tcp_info</c> (getsockopt IPPROTO_TCP, TCP_INFO = 11) that tell
/// how the kernel ended a connection. Offsets from include/uapi/linux/tcp.h.
/// </summary>
internal readonly record struct TcpConnectionInfo(byte State, byte Retransmits, byte Probes, uint LastDataReceivedMilliseconds, uint LastAckReceivedMilliseconds)
{
    /// <summary>TCP_CLOSE: the kernel has ended the connection (a timeout or a reset).</summary>
    public const byte Closed = 7;

    private const int TcpInfo = 11;
    private const int Length = 60; // through tcpi_last_ack_recv (offset 56, 4 bytes)

    /// <summary>Reads the socket's TCP_INFO; <see langword="false"/> off Linux or once the socket is gone.</summary>
    public static bool TryRead(Socket socket, out TcpConnectionInfo info)
    {
        info = default;
        if (!OperatingSystem.IsLinux())
            return false;
        Span<byte> buffer = stackalloc byte[Length];
        try
        {
            if (socket.GetRawSocketOption((int)SocketOptionLevel.Tcp, TcpInfo, buffer) < Length)
                return false;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return false;
        }
        info = new TcpConnectionInfo(
            State: buffer[0],
            Retransmits: buffer[2],
            Probes: buffer[3],
            LastDataReceivedMilliseconds: BinaryPrimitives.ReadUInt32LittleEndian(buffer[52..]),
            LastAckReceivedMilliseconds: BinaryPrimitives.ReadUInt32LittleEndian(buffer[56..]));
        return true;
    }
}
