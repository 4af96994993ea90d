using System.Net;
using System.Net.Sockets;

namespace KeepAlive.AspNetCore.Outage;

/// <summary>Client sockets and an HTTP handler whose connections all come from one loopback address: the network a group of clients sits behind.</summary>
internal static class ClientAddress
{
    private const int IpBindAddressNoPort = 24; // IP_BIND_ADDRESS_NO_PORT, linux/in.h

    /// <summary>
    /// A TCP socket bound to <paramref name="address"/>, its port left to connect (IP_BIND_ADDRESS_NO_PORT): bind with
    /// port 0 searches the address's ports in use, which grows slow with thousands of them (18,000 from one address took
    /// 23-33 s to open, against 2-7 s for 10,000); connect picks one by the whole 4-tuple.
    /// </summary>
    public static Socket Bound(IPAddress address)
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

    public static SocketsHttpHandler Handler(IPAddress address, int maxConnections = int.MaxValue) => new()
    {
        MaxConnectionsPerServer = maxConnections,
        ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = Bound(address);
            try
            {
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };
}
