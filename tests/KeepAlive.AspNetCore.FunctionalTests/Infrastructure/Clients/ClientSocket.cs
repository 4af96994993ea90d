using System.Net;
using System.Net.Sockets;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Clients;

/// <summary>A client's TCP socket bound to its own loopback address, the address a drop rule cuts off.</summary>
internal static class ClientSocket
{
    private const int IpBindAddressNoPort = 24; // IP_BIND_ADDRESS_NO_PORT, linux/in.h

    /// <summary>
    /// A socket bound to <paramref name="address"/>, its port left to connect, which picks it by the whole 4-tuple: bind
    /// with port 0 searches the address's ports in use, which grows slow with thousands of them (18,000 from one address
    /// took 23-49 s to open, against 3.3 s this way).
    /// </summary>
    public static Socket BoundTo(IPAddress address)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            socket.SetRawSocketOption((int)SocketOptionLevel.IP, IpBindAddressNoPort, BitConverter.GetBytes(1));
            socket.Bind(new IPEndPoint(address, 0));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
