using System.Net;
using System.Net.Sockets;
using System.Text;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Clients;

/// <summary>
/// A client with a small receive buffer (4 KiB) that asks for <see cref="FloodEndpoint"/>'s stream, reads its headers,
/// and reads no more: alive (its kernel answers), but its receive window closes while the server has data waiting.
/// </summary>
internal sealed class StallingClient : IDisposable
{
    private readonly Socket _socket;

    private StallingClient(Socket socket) => _socket = socket;

    /// <summary>The client's address and port (its own loopback address), as the server sees them.</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    public static async Task<StallingClient> ConnectAsync(Uri server)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        socket.Bind(new IPEndPoint(LoopbackAddresses.Next(), 0));
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Parse(server.Host), server.Port), TestContext.Current.CancellationToken);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET {FloodEndpoint.Path} HTTP/1.1\r\nHost: x\r\n\r\n"), TestContext.Current.CancellationToken);
        var buffer = new byte[256];
        await socket.ReceiveAsync(buffer, TestContext.Current.CancellationToken);
        return new StallingClient(socket);
    }

    public void Dispose() => _socket.Dispose();
}
