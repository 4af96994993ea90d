using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace KeepAlive.AspNetCore;

/// <summary>
/// TCP_INFO of many connections at once, from the kernel's socket diagnostics (NETLINK_SOCK_DIAG, what <c>ss -ti</c>
/// reads): one dump of the TCP sockets of one address family and local port returns each one's <c>struct tcp_info</c>
/// in batches of a few dozen per recv, where getsockopt costs a system call per connection. One netlink socket for the
/// process, created on first use and reused under a lock.
/// </summary>
/// <remarks>
/// The layouts are those of include/uapi/linux/netlink.h (<c>struct nlmsghdr</c>), sock_diag.h
/// (SOCK_DIAG_BY_FAMILY) and inet_diag.h (<c>struct inet_diag_req_v2</c>, <c>struct inet_diag_msg</c>, INET_DIAG_INFO),
/// in the machine's byte order except the addresses and ports of <c>struct inet_diag_sockid</c>.
/// </remarks>
internal static class InetDiagTcpDump
{
    private const int NetlinkSockDiag = 4; // NETLINK_SOCK_DIAG, netlink.h
    private const byte AfInet = 2, AfInet6 = 10; // linux/socket.h
    private const int AfNetlink = 16, SockRaw = 3, SockCloexec = 0x80000; // linux/socket.h, linux/net.h, fcntl O_CLOEXEC
    private const ushort SockDiagByFamily = 20; // SOCK_DIAG_BY_FAMILY, sock_diag.h
    private const ushort NlmsgError = 2, NlmsgDone = 3; // netlink.h
    private const ushort NlmFRequest = 0x1, NlmFDump = 0x300; // NLM_F_REQUEST, NLM_F_ROOT | NLM_F_MATCH
    private const ushort InetDiagInfo = 2; // INET_DIAG_INFO: the rtattr that carries struct tcp_info
    private const int HeaderLength = 16; // struct nlmsghdr
    private const int RequestLength = 56; // struct inet_diag_req_v2: family, protocol, ext, pad, states, sockid (48)
    private const int MessageLength = 72; // struct inet_diag_msg: family, state, timer, retrans, sockid (48), 5 x u32
    // The TCP states of a connection the application still holds and the kernel has a tcp_info for (include/net/tcp_states.h):
    // ESTABLISHED 1, FIN_WAIT1 4, FIN_WAIT2 5, CLOSE_WAIT 8, LAST_ACK 9, CLOSING 11. Not LISTEN (10), the handshakes,
    // TIME_WAIT (a mini socket without tcp_info) or CLOSE (a connection the kernel ended is out of its tables).
    private const uint States = 1 << 1 | 1 << 4 | 1 << 5 | 1 << 8 | 1 << 9 | 1 << 11;
    // The kernel fills a dump's replies up to the reader's buffer, at most 32 KiB (netlink_recvmsg's max_recvmsg_len).
    private const int BufferLength = 64 * 1024;

    private static readonly Lock s_lock = new();
    private static byte[]? s_buffer;
    private static Socket? s_socket;
    private static uint s_sequence;
    private static bool s_unavailable;

    /// <summary>
    /// Whether netlink may work here: Linux, and the socket could be created (not the case where the kernel has no
    /// sock_diag, or a sandbox refuses AF_NETLINK). Checked once; callers read TCP_INFO per socket when it is false.
    /// </summary>
    public static bool IsAvailable => OperatingSystem.IsLinux() && !Volatile.Read(ref s_unavailable);

    /// <summary>
    /// Dumps the TCP sockets of one address family whose local port is <paramref name="localPort"/> (0: any) and, for
    /// each one <paramref name="indexes"/> holds, parses its tcp_info into <paramref name="infos"/> at that index.
    /// <see langword="false"/> if the dump failed (the caller then reads those sockets one by one); never throws.
    /// </summary>
    public static bool TryDump(bool ipv6, ushort localPort, Dictionary<TcpConnectionKey, int> indexes, Span<TcpConnectionInfo> infos)
    {
        if (!IsAvailable)
            return false;
        lock (s_lock)
        {
            try
            {
                var socket = s_socket ??= Open();
                if (socket is null)
                    return false;
                var buffer = s_buffer ??= new byte[BufferLength];
                var sequence = ++s_sequence;
                socket.Send(Request(buffer, sequence, ipv6, localPort));
                while (true)
                {
                    var received = socket.Receive(buffer);
                    if (received <= 0 || received == buffer.Length)
                        throw new InvalidDataException("The reply did not fit the buffer.");
                    switch (Parse(buffer.AsSpan(0, received), sequence, ipv6, indexes, infos))
                    {
                        case Reply.More:
                            continue;
                        case Reply.Done:
                            return true;
                        default:
                            return false;
                    }
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or InvalidDataException)
            {
                // A reply half read would be read as the next dump's: start over with a new socket next time.
                s_socket?.Dispose();
                s_socket = null;
                return false;
            }
        }
    }

    private static Socket? Open()
    {
        // .NET's Socket constructor knows no AF_NETLINK (AddressFamily has no such member, and a cast of 16 is refused
        // with EAFNOSUPPORT), but takes the descriptor of one: send and receive need nothing more.
        var descriptor = CreateSocket(AfNetlink, SockRaw | SockCloexec, NetlinkSockDiag);
        if (descriptor < 0)
        {
            // No NETLINK_SOCK_DIAG here (no sock_diag in the kernel, a sandbox that refuses AF_NETLINK): once and for
            // all, the connections' TCP_INFO is read with one getsockopt each, as before this reader.
            Volatile.Write(ref s_unavailable, true);
            return null;
        }
        // Sending without an address goes to the kernel (netlink_sendmsg: dst_portid 0), which answers to the port id
        // it binds the socket to on that first send. A dump the kernel never finished must not hold the meter's
        // callback: a second is ages for one.
        return new Socket(new SafeSocketHandle(descriptor, ownsHandle: true)) { ReceiveTimeout = 1000 };
    }

    [DllImport("libc", EntryPoint = "socket")]
    private static extern int CreateSocket(int domain, int type, int protocol);

    // SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, with struct inet_diag_req_v2 asking for INET_DIAG_INFO.
    private static ReadOnlySpan<byte> Request(Span<byte> buffer, uint sequence, bool ipv6, ushort localPort)
    {
        var request = buffer[..(HeaderLength + RequestLength)];
        request.Clear();
        MemoryMarshal.Write(request, (uint)request.Length); // nlmsg_len
        MemoryMarshal.Write(request[4..], SockDiagByFamily); // nlmsg_type
        MemoryMarshal.Write(request[6..], (ushort)(NlmFRequest | NlmFDump)); // nlmsg_flags
        MemoryMarshal.Write(request[8..], sequence); // nlmsg_seq; nlmsg_pid 0: the kernel
        var body = request[HeaderLength..];
        body[0] = ipv6 ? AfInet6 : AfInet; // sdiag_family
        body[1] = (byte)ProtocolType.Tcp; // sdiag_protocol
        body[2] = 1 << (InetDiagInfo - 1); // idiag_ext: bit (INET_DIAG_INFO - 1) asks for struct tcp_info
        MemoryMarshal.Write(body[4..], States); // idiag_states
        // id.idiag_sport (network order): inet_diag_dump_icsk (net/ipv4/inet_diag.c) skips the sockets of other local
        // ports when it is not 0, so the dump walks the table but fills no tcp_info for the clients' ends or other servers.
        BinaryPrimitives.WriteUInt16BigEndian(body[8..], localPort);
        return request;
    }

    private enum Reply { More, Done, Failed }

    // The messages of one recv: one struct inet_diag_msg per socket, then NLMSG_DONE after the last (or NLMSG_ERROR).
    private static Reply Parse(ReadOnlySpan<byte> received, uint sequence, bool ipv6, Dictionary<TcpConnectionKey, int> indexes, Span<TcpConnectionInfo> infos)
    {
        while (received.Length >= HeaderLength)
        {
            var length = MemoryMarshal.Read<uint>(received);
            if (length < HeaderLength || length > received.Length)
                throw new InvalidDataException("A netlink message's length is out of its reply.");
            var type = MemoryMarshal.Read<ushort>(received[4..]);
            var messageSequence = MemoryMarshal.Read<uint>(received[8..]);
            var message = received[HeaderLength..(int)length];
            // NLMSG_ALIGN: messages start at multiples of 4.
            received = received[Math.Min(received.Length, (int)((length + 3) & ~3u))..];
            if (messageSequence != sequence)
                continue;
            switch (type)
            {
                case NlmsgDone:
                    return Reply.Done;
                case NlmsgError:
                    return Reply.Failed;
                case SockDiagByFamily when message.Length >= MessageLength:
                    Match(message, ipv6, indexes, infos);
                    break;
            }
        }
        return Reply.More;
    }

    // struct inet_diag_msg: idiag_state at 1, id (struct inet_diag_sockid) at 4; then its rtattrs (struct rtattr:
    // rta_len, rta_type, u16 each, 4-aligned), of which INET_DIAG_INFO holds struct tcp_info as long as the kernel's.
    private static void Match(ReadOnlySpan<byte> message, bool ipv6, Dictionary<TcpConnectionKey, int> indexes, Span<TcpConnectionInfo> infos)
    {
        if (!indexes.TryGetValue(TcpConnectionKey.FromInetDiagSockId(message.Slice(4, 48), ipv4: !ipv6), out var index))
            return;
        var attributes = message[MessageLength..];
        while (attributes.Length >= 4)
        {
            var length = MemoryMarshal.Read<ushort>(attributes);
            if (length < 4 || length > attributes.Length)
                return;
            if (MemoryMarshal.Read<ushort>(attributes[2..]) == InetDiagInfo)
            {
                if (TcpConnectionInfo.TryParse(attributes[4..length], out var info))
                    infos[index] = info;
                return;
            }
            attributes = attributes[Math.Min(attributes.Length, (length + 3) & ~3)..];
        }
    }
}
