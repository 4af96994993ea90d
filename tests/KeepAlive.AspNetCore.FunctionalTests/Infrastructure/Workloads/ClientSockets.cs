using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Workloads;

/// <summary>
/// The sockets of a crowd of real clients, all bound to the crowd's own loopback address (so one drop rule cuts them off
/// together), each client's HTTP stack connecting through <see cref="ConnectAsync"/>. <see cref="Abandon"/> closes them
/// abortively, so that no client library waits on a peer it can no longer reach.
/// </summary>
internal sealed class ClientSockets(IPAddress address)
{
    private readonly ConcurrentBag<Socket> _sockets = [];

    public IPAddress Address => address;

    /// <summary>A handler whose connections come from the crowd's address (one handler per client: a connection each).</summary>
    public SocketsHttpHandler Handler() => new()
    {
        ConnectCallback = (context, cancellationToken) => ConnectAsync(context.DnsEndPoint, cancellationToken),
        PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>A connection from the crowd's address to <paramref name="server"/>.</summary>
    public async ValueTask<Stream> ConnectAsync(EndPoint server, CancellationToken cancellationToken)
    {
        var socket = ClientSocket.BoundTo(address);
        try
        {
            await socket.ConnectAsync(server, cancellationToken);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        _sockets.Add(socket);
        return new NetworkStream(socket, ownsSocket: true);
    }

    public void Abandon()
    {
        foreach (var socket in _sockets)
        {
            try
            {
                socket.LingerState = new LingerOption(true, 0);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
            }
            socket.Dispose();
        }
    }
}
