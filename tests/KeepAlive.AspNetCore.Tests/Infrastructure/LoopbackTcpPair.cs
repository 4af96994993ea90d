using System.Net;
using System.Net.Sockets;

namespace KeepAlive.AspNetCore.Tests.Infrastructure;

/// <summary>
/// A connected TCP pair on loopback: <see cref="Server"/> is the accepted socket, as Kestrel's
/// socket transport would hand it to the policy.
/// </summary>
internal sealed class LoopbackTcpPair : IDisposable
{
    private LoopbackTcpPair(Socket client, Socket server)
    {
        Client = client;
        Server = server;
    }

    public Socket Client { get; }

    public Socket Server { get; }

    /// <summary>A pair connected otherwise (a dual-stack listener, say).</summary>
    public static LoopbackTcpPair Of(Socket client, Socket server) => new(client, server);

    /// <param name="address">The loopback address to use; 127.0.0.1 when not given.</param>
    public static async Task<LoopbackTcpPair> ConnectAsync(IPAddress? address = null)
    {
        address ??= IPAddress.Loopback;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));

        using var listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(address, 0));
        listener.Listen(1);
        var client = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            var accept = listener.AcceptAsync(timeout.Token);
            await client.ConnectAsync(listener.LocalEndPoint!, timeout.Token);
            return new LoopbackTcpPair(client, await accept);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Server.Dispose();
        Client.Dispose();
    }
}
