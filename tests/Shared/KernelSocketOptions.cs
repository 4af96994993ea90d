using System.Net.Sockets;

namespace KeepAlive.AspNetCore.Testing;

/// <summary>
/// The keepalive options of a socket as the Linux kernel holds them, read with getsockopt by the
/// kernel's own numbers (not through .NET's SocketOptionName mapping, so a wrong mapping shows).
/// Shared by the unit and functional tests (linked into both projects).
/// </summary>
public sealed record KernelSocketOptions(bool KeepAlive, int IdleSeconds, int IntervalSeconds, int ProbeCount, int UserTimeoutMilliseconds)
{
    // include/uapi/asm-generic/socket.h and include/uapi/linux/tcp.h
    private const int SolSocket = 1, SoKeepAlive = 9;
    private const int IpProtoTcp = 6, TcpKeepIdle = 4, TcpKeepIntvl = 5, TcpKeepCnt = 6, TcpUserTimeout = 18;

    /// <summary>A fresh Linux TCP socket: keepalive off, 7200 s, 75 s, 9 probes, no user timeout (tcp(7)).</summary>
    public static readonly KernelSocketOptions LinuxDefaults = new(false, 7200, 75, 9, 0);

    public static KernelSocketOptions Read(Socket socket) => new(
        Get(socket, SolSocket, SoKeepAlive) != 0,
        Get(socket, IpProtoTcp, TcpKeepIdle),
        Get(socket, IpProtoTcp, TcpKeepIntvl),
        Get(socket, IpProtoTcp, TcpKeepCnt),
        Get(socket, IpProtoTcp, TcpUserTimeout));

    /// <summary>SO_KEEPALIVE alone: the only one of these a non-TCP socket (Unix domain) has.</summary>
    public static bool ReadKeepAlive(Socket socket) => Get(socket, SolSocket, SoKeepAlive) != 0;

    /// <summary>Sets SO_KEEPALIVE by number, to start a test from a state the policy must change.</summary>
    public static void SetKeepAlive(Socket socket, bool on) =>
        socket.SetRawSocketOption(SolSocket, SoKeepAlive, BitConverter.GetBytes(on ? 1 : 0));

    /// <summary>Sets TCP_USER_TIMEOUT by number, to start a test from a state the policy must change.</summary>
    public static void SetUserTimeout(Socket socket, int milliseconds) =>
        socket.SetRawSocketOption(IpProtoTcp, TcpUserTimeout, BitConverter.GetBytes(milliseconds));

    private static int Get(Socket socket, int level, int name)
    {
        Span<byte> value = stackalloc byte[4];
        var length = socket.GetRawSocketOption(level, name, value);
        Assert.Equal(4, length);
        return BitConverter.ToInt32(value);
    }
}
