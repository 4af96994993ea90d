using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The <see cref="ConnectionState"/> of many connections at once, from the kernel's socket diagnostics
/// (NETLINK_SOCK_DIAG, what <c>ss -o</c> reads): one dump of the TCP sockets of both address families, of one local port
/// or all, returns for each one the timer the kernel has pending and its count of unanswered retransmissions or probes,
/// in batches of a few hundred per recv, where getsockopt costs a system call per connection. One netlink socket for
/// the process, created on first use and reused under a lock.
/// </summary>
/// <remarks>
/// <para>
/// The dump asks for no <c>struct tcp_info</c> (INET_DIAG_INFO): filling one is a good part of the kernel's work per
/// socket (docs/benchmarks.md), and the state needs only the timer (see
/// <see cref="ConnectionStateClassifier.Of(byte, byte)"/>). It is the legacy TCPDIAG_GETSOCK request, the one that dumps
/// both address families in one walk of the kernel's table (inet_diag_dump_compat: AF_UNSPEC); SOCK_DIAG_BY_FAMILY
/// would need a walk per family, each as costly as the whole table (docs/benchmarks.md) whatever the number of connections.
/// </para>
/// <para>
/// The layouts are those of include/uapi/linux/netlink.h (<c>struct nlmsghdr</c>) and inet_diag.h
/// (<c>struct inet_diag_req</c>, <c>struct inet_diag_msg</c>), in the machine's byte order except the addresses and
/// ports of <c>struct inet_diag_sockid</c>.
/// </para>
/// </remarks>
internal static class InetDiagTcpDump
{
    private const int NetlinkSockDiag = 4; // NETLINK_SOCK_DIAG, netlink.h
    private const byte AfInet = 2; // linux/socket.h
    private const int AfNetlink = 16, SockRaw = 3, SockCloexec = 0x80000; // linux/socket.h, linux/net.h, fcntl O_CLOEXEC
    private const ushort TcpDiagGetSock = 18; // TCPDIAG_GETSOCK, inet_diag.h
    private const ushort NlmsgError = 2, NlmsgDone = 3; // netlink.h
    private const ushort NlmFRequest = 0x1, NlmFDump = 0x300; // NLM_F_REQUEST, NLM_F_ROOT | NLM_F_MATCH
    private const int HeaderLength = 16; // struct nlmsghdr
    private const int RequestLength = 60; // struct inet_diag_req: family, src_len, dst_len, ext, sockid (48), states, dbs
    private const int MessageLength = 72; // struct inet_diag_msg: family, state, timer, retrans, sockid (48), 5 x u32
    // The TCP states of a connection the application still holds (include/net/tcp_states.h): ESTABLISHED 1,
    // FIN_WAIT1 4, FIN_WAIT2 5, CLOSE_WAIT 8, LAST_ACK 9, CLOSING 11. Not LISTEN (10), the handshakes, TIME_WAIT (a
    // socket the application no longer has) or CLOSE (a connection the kernel ended is out of its tables).
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
    /// Dumps the TCP sockets whose local port is <paramref name="localPort"/> (0: any) and, for each one
    /// <paramref name="index"/> holds, writes its state into <paramref name="states"/> at that index, and its timer's count
    /// (unanswered probes, retransmissions) into <paramref name="counts"/> when it is not empty; a socket the dump does not
    /// list keeps what it had. <see langword="false"/> if the dump failed (the caller then reads those sockets one by
    /// one); never throws.
    /// </summary>
    public static bool TryReadStates(ushort localPort, TcpConnectionIndex index, Span<ConnectionState?> states, Span<byte> counts = default)
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
                socket.Send(Request(buffer, sequence, localPort));
                while (true)
                {
                    var received = socket.Receive(buffer);
                    if (received <= 0 || received == buffer.Length)
                        throw new InvalidDataException("The reply did not fit the buffer.");
                    switch (Parse(buffer.AsSpan(0, received), sequence, index, states, counts))
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
            // all, the connections' TCP_INFO is read with one getsockopt each.
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

    // TCPDIAG_GETSOCK, NLM_F_REQUEST | NLM_F_DUMP, with struct inet_diag_req asking for no extension.
    private static ReadOnlySpan<byte> Request(Span<byte> buffer, uint sequence, ushort localPort)
    {
        var request = buffer[..(HeaderLength + RequestLength)];
        request.Clear();
        MemoryMarshal.Write(request, (uint)request.Length); // nlmsg_len
        MemoryMarshal.Write(request[4..], TcpDiagGetSock); // nlmsg_type
        MemoryMarshal.Write(request[6..], (ushort)(NlmFRequest | NlmFDump)); // nlmsg_flags
        MemoryMarshal.Write(request[8..], sequence); // nlmsg_seq; nlmsg_pid 0: the kernel
        var body = request[HeaderLength..];
        // idiag_family, idiag_ext: 0. The dump takes both families whatever the family says.
        // id.idiag_sport (network order): inet_diag_dump_icsk (net/ipv4/inet_diag.c) skips the sockets of other local
        // ports when it is not 0, so the dump walks the table but fills nothing for the clients' ends or other servers.
        BinaryPrimitives.WriteUInt16BigEndian(body[4..], localPort);
        MemoryMarshal.Write(body[52..], States); // idiag_states
        return request;
    }

    private enum Reply { More, Done, Failed }

    // The messages of one recv: one struct inet_diag_msg per socket, then NLMSG_DONE after the last (or NLMSG_ERROR).
    private static Reply Parse(ReadOnlySpan<byte> received, uint sequence, TcpConnectionIndex index, Span<ConnectionState?> states, Span<byte> counts)
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
                // struct inet_diag_msg: idiag_family, idiag_state, idiag_timer, idiag_retrans (u8 each), then the id
                // (struct inet_diag_sockid) at 4; its attributes after it are not read.
                case TcpDiagGetSock when message.Length >= MessageLength:
                    var key = TcpConnectionKey.FromInetDiagSockId(message.Slice(4, 48), ipv4: message[0] == AfInet);
                    if (index.TryFind(key, out var found))
                    {
                        states[found] = ConnectionStateClassifier.Of(timer: message[2], count: message[3]);
                        if (!counts.IsEmpty)
                            counts[found] = message[3];
                    }
                    break;
            }
        }
        return Reply.More;
    }
}
