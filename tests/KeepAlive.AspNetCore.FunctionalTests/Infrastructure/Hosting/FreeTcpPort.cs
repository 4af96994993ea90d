using System.Net;
using System.Net.Sockets;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Hosting;

/// <summary>A port on 127.0.0.1 that nothing listens on now, for a child process to bind a moment later.</summary>
internal static class FreeTcpPort
{
    public static int Next()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
