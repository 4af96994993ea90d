using System.Net.Sockets;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure;

/// <summary>
/// The keepalive options of a socket as the Linux kernel holds them, read with getsockopt by the
/// kernel's own option numbers (not through the library's mapping, so a wrong mapping shows).
/// </summary>
public sealed record KernelSocketOptions(bool KeepAlive, int IdleSeconds, int IntervalSeconds, int ProbeCount, int UserTimeoutMilliseconds)
{
    private const int SolSocket = 1, SoKeepAlive = 9;
    private const int IpProtoTcp = 6, TcpKeepIdle = 4, TcpKeepIntvl = 5, TcpKeepCnt = 6, TcpUserTimeout = 18;

    /// <summary>Linux defaults for a fresh socket: keepalive off, 7200 s, 75 s, 9 probes, no user timeout.</summary>
    public static readonly KernelSocketOptions LinuxDefaults = new(false, 7200, 75, 9, 0);

    public static KernelSocketOptions Read(Socket socket) => new(
        Get(socket, SolSocket, SoKeepAlive) != 0,
        Get(socket, IpProtoTcp, TcpKeepIdle),
        Get(socket, IpProtoTcp, TcpKeepIntvl),
        Get(socket, IpProtoTcp, TcpKeepCnt),
        Get(socket, IpProtoTcp, TcpUserTimeout));

    private static int Get(Socket socket, int level, int name)
    {
        Span<byte> value = stackalloc byte[4];
        var length = socket.GetRawSocketOption(level, name, value);
        Assert.Equal(4, length);
        return BitConverter.ToInt32(value);
    }
}
