using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace KeepAlive.AspNetCore.Outage;

/// <summary>
/// Many raw clients on one loopback address, each reading a server-sent event stream that ticks every second
/// (<see cref="MixedEndpoints.TicksPath"/>): the live dashboards and tickers of a real crowd, which the server writes to
/// while they are cut off, so TCP's user timeout rather than keepalive finds them gone. Each drains its stream until it
/// is closed or abandoned.
/// </summary>
internal sealed class TickingStreamClients : IDisposable
{
    private const int ConnectsInFlight = 32;
    private static readonly TimeSpan ConnectionTimeout = TimeSpan.FromSeconds(10);
    private static readonly byte[] Request = Encoding.ASCII.GetBytes($"GET {MixedEndpoints.TicksPath} HTTP/1.1\r\nHost: x\r\n\r\n");

    private readonly Socket?[] _sockets;

    private TickingStreamClients(Socket?[] sockets) => _sockets = sockets;

    /// <summary>Connects <paramref name="count"/> clients from <paramref name="address"/>, each with its stream's first tick received.</summary>
    public static async Task<TickingStreamClients> OpenAsync(IPEndPoint server, IPAddress address, int count)
    {
        var sockets = new Socket?[count];
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = ConnectsInFlight },
                async (i, _) => sockets[i] = await OpenOneAsync(server, address));
        }
        catch
        {
            foreach (var socket in sockets)
                socket?.Dispose();
            throw;
        }
        var clients = new TickingStreamClients(sockets);
        foreach (var socket in sockets)
            _ = DrainAsync(socket!);
        return clients;
    }

    public void Close() => Release(static s => s.Shutdown(SocketShutdown.Both));

    /// <summary>Forgets every connection at once (SO_LINGER 0), as a restarted host does.</summary>
    public void Abandon() => Release(static s => s.LingerState = new LingerOption(true, 0));

    public void Dispose() => Abandon();

    private void Release(Action<Socket> before)
    {
        for (var i = 0; i < _sockets.Length; i++)
        {
            if (Interlocked.Exchange(ref _sockets[i], null) is not { } socket)
                continue;
            try
            {
                before(socket);
            }
            catch (SocketException)
            {
                // Already reset: closing is all that is left.
            }
            socket.Dispose();
        }
    }

    private static async Task<Socket> OpenOneAsync(IPEndPoint server, IPAddress address)
    {
        var socket = ClientSocket.BoundTo(address);
        using var timeout = new CancellationTokenSource(ConnectionTimeout);
        var buffer = new byte[512];
        try
        {
            await socket.ConnectAsync(server, timeout.Token);
            await socket.SendAsync(Request, timeout.Token);
            var read = await socket.ReceiveAsync(buffer, timeout.Token);
            if (read == 0 || !buffer.AsSpan(0, read).StartsWith("HTTP/1.1 200 "u8))
                throw new InvalidOperationException($"Not a 200 response: '{Encoding.ASCII.GetString(buffer, 0, read)}'.");
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task DrainAsync(Socket socket)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(256);
        try
        {
            while (await socket.ReceiveAsync(buffer) > 0)
            {
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Closed, abandoned or reset: the stream is over.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
