using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Endpoints;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Clients;

/// <summary>
/// Many raw clients on one loopback address, each holding one server-sent event stream open: the
/// clients behind one network (a site, a NAT, a mobile carrier) that an outage cuts off all at once.
/// A drop rule for the address (<see cref="Nftables.DropIncomingToAsync"/>) makes them all vanish
/// together. <see cref="VanishingClient"/> is the same idea for one client with an address of its own.
/// </summary>
internal sealed class EventStreamClients : IDisposable
{
    // Kestrel's listen backlog is 512: a few dozen connects in flight keep well below it.
    private const int ConnectsInFlight = 32;
    private static readonly TimeSpan ConnectionTimeout = TimeSpan.FromSeconds(10);
    private static readonly byte[] Request = Encoding.ASCII.GetBytes(SubscriberStreams.Request);
    private static readonly byte[] FirstEvent = Encoding.ASCII.GetBytes(SubscriberStreams.FirstEvent);

    private readonly Socket?[] _sockets;

    private EventStreamClients(IPAddress address, Socket?[] sockets)
    {
        Address = address;
        _sockets = sockets;
    }

    /// <summary>The clients' address, as the server sees it.</summary>
    public IPAddress Address { get; }

    /// <summary>How many clients hold a stream open.</summary>
    public int Count => _sockets.Count(s => s is not null);

    /// <summary>
    /// Connects <paramref name="count"/> clients from <paramref name="address"/> (each on its own port)
    /// to <paramref name="server"/>, a few dozen at a time, and opens a stream on each: every one has
    /// received the response headers and the first event (the server has written, and the client's
    /// kernel acknowledged, everything so far). Each connection gets 10 s; on any failure the clients
    /// opened so far are closed.
    /// </summary>
    public static async Task<EventStreamClients> OpenAsync(IPEndPoint server, IPAddress address, int count, CancellationToken cancellationToken)
    {
        var sockets = new Socket?[count];
        try
        {
            await Parallel.ForEachAsync(
                Enumerable.Range(0, count),
                new ParallelOptions { MaxDegreeOfParallelism = ConnectsInFlight, CancellationToken = cancellationToken },
                async (i, ct) => sockets[i] = await OpenOneAsync(server, address, ct));
        }
        catch
        {
            foreach (var socket in sockets)
                socket?.Dispose();
            throw;
        }
        return new EventStreamClients(address, sockets);
    }

    /// <summary>Every client ends its stream in the normal course: a FIN, as a closing browser tab sends.</summary>
    public void Close()
    {
        for (var i = 0; i < _sockets.Length; i++)
        {
            if (Interlocked.Exchange(ref _sockets[i], null) is { } socket)
            {
                try
                {
                    socket.Shutdown(SocketShutdown.Both);
                }
                catch (SocketException)
                {
                    // Already reset: closing is all that is left.
                }
                socket.Dispose();
            }
        }
    }

    /// <summary>
    /// Every client forgets its connection at once, as the hosts of an outage do when they restart or
    /// their NAT forgets the flows: closed abortively (SO_LINGER 0), so nothing lingers on the client side.
    /// The reset this sends is ignored by a server that already gave up on the connection.
    /// </summary>
    public void Abandon()
    {
        for (var i = 0; i < _sockets.Length; i++)
        {
            if (Interlocked.Exchange(ref _sockets[i], null) is { } socket)
            {
                socket.LingerState = new LingerOption(true, 0);
                socket.Dispose();
            }
        }
    }

    public void Dispose() => Abandon();

    private static async Task<Socket> OpenOneAsync(IPEndPoint server, IPAddress address, CancellationToken cancellationToken)
    {
        var socket = ClientSocket.BoundTo(address);
        var buffer = ArrayPool<byte>.Shared.Rent(1024);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ConnectionTimeout);
        try
        {
            await socket.ConnectAsync(server, timeout.Token);
            await socket.SendAsync(Request, timeout.Token);

            // The response headers and the first event: a couple of hundred bytes, usually one read.
            var received = 0;
            while (buffer.AsSpan(0, received).IndexOf(FirstEvent) < 0)
            {
                if (received == buffer.Length)
                    throw new InvalidOperationException($"No first event in the first {received} bytes: '{Encoding.ASCII.GetString(buffer, 0, received)}'.");
                var read = await socket.ReceiveAsync(buffer.AsMemory(received), timeout.Token);
                if (read == 0)
                    throw new InvalidOperationException($"The server closed the connection before the first event; received: '{Encoding.ASCII.GetString(buffer, 0, received)}'.");
                received += read;
            }
            if (!buffer.AsSpan(0, received).StartsWith("HTTP/1.1 200 "u8))
                throw new InvalidOperationException($"Not a 200 response: '{Encoding.ASCII.GetString(buffer, 0, received)}'.");
            return socket;
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new TimeoutException($"A stream from {address} to {server} did not open within {ConnectionTimeout.TotalSeconds} s.");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
