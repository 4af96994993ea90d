using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The fields of Linux's <c>struct tcp_info</c> (getsockopt IPPROTO_TCP, TCP_INFO = 11) that tell how the peer
/// is answering and, at the end, how the kernel ended the connection. Offsets from include/uapi/linux/tcp.h, in the
/// machine's byte order.
/// </summary>
/// <param name="State">The TCP state (<see cref="Established"/>, <see cref="Closed"/>, ...).</param>
/// <param name="Retransmits">Consecutive retransmission timeouts without an acknowledgement (<c>tcpi_retransmits</c>).</param>
/// <param name="RtoMicroseconds">The retransmission timeout (<c>tcpi_rto</c>): 200 ms plus about the round trip, at least.</param>
/// <param name="Probes">Unanswered keepalive or zero-window probes (<c>tcpi_probes</c>); an answer resets it.</param>
/// <param name="Unacked">Segments sent and not yet acknowledged.</param>
/// <param name="LastDataReceivedMilliseconds">Since the peer last sent data (answers to probes carry none).</param>
/// <param name="LastAckReceivedMilliseconds">Since the peer last acknowledged anything, probes included: its last sign of life.</param>
/// <param name="RttMicroseconds">The smoothed round-trip time.</param>
/// <param name="NotSentBytes">Bytes written by the server that the kernel has not sent yet (<c>tcpi_notsent_bytes</c>; 0 where the kernel does not report it).</param>
/// <param name="SendWindow">The peer's receive window as last advertised (<c>tcpi_snd_wnd</c>, Linux 5.4+; <see langword="null"/> before).</param>
internal readonly record struct TcpConnectionInfo(
    byte State, byte Retransmits, uint RtoMicroseconds, byte Probes, uint Unacked, uint LastDataReceivedMilliseconds, uint LastAckReceivedMilliseconds,
    uint RttMicroseconds, uint NotSentBytes, uint? SendWindow)
{
    /// <summary>TCP_ESTABLISHED.</summary>
    public const byte Established = 1;

    /// <summary>TCP_CLOSE: the kernel has ended the connection (a timeout or a reset).</summary>
    public const byte Closed = 7;

    private const int TcpInfo = 11;
    private const int MinimumLength = 104; // through tcpi_total_retrans: every kernel of the last decade
    private const int Length = 232; // through tcpi_snd_wnd (offset 228, 4 bytes)

    /// <summary>
    /// Whether the peer's receive window is closed while the server has data waiting to be sent: a peer that
    /// answers but has stopped reading.
    /// </summary>
    public bool WindowClosedWithDataWaiting => SendWindow == 0 && NotSentBytes > 0;

    /// <summary>Reads the socket's TCP_INFO (as much of it as the running kernel has); <see langword="false"/> off Linux or once the socket is gone.</summary>
    public static bool TryRead(Socket socket, out TcpConnectionInfo info)
    {
        info = default;
        if (!OperatingSystem.IsLinux())
            return false;
        Span<byte> buffer = stackalloc byte[Length];
        int length;
        try
        {
            length = socket.GetRawSocketOption((int)SocketOptionLevel.Tcp, TcpInfo, buffer);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return false;
        }
        return TryParse(buffer[..length], out info);
    }

    /// <summary>Reads TCP_INFO through a file descriptor of the socket's own (<see cref="SocketDescriptor"/>).</summary>
    public static bool TryRead(SocketDescriptor descriptor, out TcpConnectionInfo info)
    {
        info = default;
        Span<byte> buffer = stackalloc byte[Length];
        return descriptor.TryGetOption((int)SocketOptionLevel.Tcp, TcpInfo, buffer, out var length) && TryParse(buffer[..length], out info);
    }

    /// <summary>
    /// Reads a <c>struct tcp_info</c> as the kernel gave it, from getsockopt or from a NETLINK_SOCK_DIAG dump's
    /// INET_DIAG_INFO attribute (both copy the same struct, as long as the running kernel's, or the buffer's, is);
    /// <see langword="false"/> when it is too short to hold the fields every kernel of the last decade has.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> buffer, out TcpConnectionInfo info)
    {
        info = default;
        var length = buffer.Length;
        if (length < MinimumLength)
            return false;
        info = new TcpConnectionInfo(
            State: buffer[0],
            Retransmits: buffer[2],
            RtoMicroseconds: MemoryMarshal.Read<uint>(buffer[8..]),
            Probes: buffer[3],
            Unacked: MemoryMarshal.Read<uint>(buffer[24..]),
            LastDataReceivedMilliseconds: MemoryMarshal.Read<uint>(buffer[52..]),
            LastAckReceivedMilliseconds: MemoryMarshal.Read<uint>(buffer[56..]),
            RttMicroseconds: MemoryMarshal.Read<uint>(buffer[68..]),
            NotSentBytes: buffer.Length >= 148 ? MemoryMarshal.Read<uint>(buffer[144..]) : 0,
            SendWindow: buffer.Length >= Length ? MemoryMarshal.Read<uint>(buffer[228..]) : null);
        return true;
    }
}
