using System.Net;
using System.Net.Sockets;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Clients;

/// <summary>
/// An HTTP/1.1 client that keeps to one TCP connection and counts the connections it opened, so a test
/// can show that a later request came in on the same server socket as an earlier one.
/// </summary>
internal sealed class OneConnectionClient : IDisposable
{
    private int _connections;

    public OneConnectionClient()
    {
        Client = LoopbackClient.Create(handler =>
        {
            handler.MaxConnectionsPerServer = 1;
            // Longer than any test waits: the pool must not retire the connection under the test.
            handler.PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10);
            handler.PooledConnectionLifetime = Timeout.InfiniteTimeSpan;
            handler.ConnectCallback = async (context, cancellationToken) =>
            {
                Interlocked.Increment(ref _connections);
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(IPAddress.Parse(context.DnsEndPoint.Host), context.DnsEndPoint.Port, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        });
    }

    public HttpClient Client { get; }

    /// <summary>The TCP connections this client opened so far.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>GETs <paramref name="path"/> on this client's connection: a handler that answers with the kernel's values for its socket.</summary>
    public Task<KernelSocketOptions> ReadAsync(Uri address, string path = "/socket") => SocketReadBack.ReadAsync(Client, address, path);

    public void Dispose() => Client.Dispose();
}
