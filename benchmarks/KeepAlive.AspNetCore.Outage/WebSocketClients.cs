using System.Net;
using System.Net.WebSockets;
using KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Workloads;

namespace KeepAlive.AspNetCore.Outage;

/// <summary>
/// Many .NET WebSocket clients (<see cref="ClientWebSocket"/>) on one loopback address, each holding a WebSocket to
/// <see cref="MixedEndpoints.WebSocketPath"/> open and reading it: idle between messages, as chat and notification
/// sockets are. One handler binds every connection to the address; each socket is its own HTTP/1.1 connection.
/// </summary>
internal sealed class WebSocketClients : IDisposable
{
    private const int ConnectsInFlight = 32;
    private static readonly TimeSpan ConnectionTimeout = TimeSpan.FromSeconds(10);

    private readonly ClientWebSocket?[] _sockets;
    private readonly HttpMessageInvoker _invoker;

    private WebSocketClients(ClientWebSocket?[] sockets, HttpMessageInvoker invoker)
    {
        _sockets = sockets;
        _invoker = invoker;
    }

    public static async Task<WebSocketClients> OpenAsync(IPEndPoint server, IPAddress address, int count)
    {
        var invoker = new HttpMessageInvoker(new ClientSockets(address).Handler());
        var uri = new Uri($"ws://{server}{MixedEndpoints.WebSocketPath}");
        var sockets = new ClientWebSocket?[count];
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = ConnectsInFlight }, async (i, _) =>
            {
                var socket = new ClientWebSocket();
                // No client pings: the socket is idle between messages, and the server's side says nothing either.
                socket.Options.KeepAliveInterval = TimeSpan.Zero;
                using var timeout = new CancellationTokenSource(ConnectionTimeout);
                await socket.ConnectAsync(uri, invoker, timeout.Token);
                sockets[i] = socket;
            });
        }
        catch
        {
            foreach (var socket in sockets)
                socket?.Abort();
            invoker.Dispose();
            throw;
        }
        foreach (var socket in sockets)
            _ = DrainAsync(socket!);
        return new WebSocketClients(sockets, invoker);
    }

    /// <summary>Every client closes its WebSocket in the normal course (a close frame, then FIN).</summary>
    public void Close() => Release(static s => _ = s.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None));

    /// <summary>Forgets every connection at once, as a restarted host does.</summary>
    public void Abandon() => Release(static s => s.Abort());

    public void Dispose() => Abandon();

    private void Release(Action<ClientWebSocket> end)
    {
        for (var i = 0; i < _sockets.Length; i++)
        {
            if (Interlocked.Exchange(ref _sockets[i], null) is { } socket)
                end(socket);
        }
    }

    private static async Task DrainAsync(ClientWebSocket socket)
    {
        var buffer = new byte[64];
        try
        {
            while ((await socket.ReceiveAsync(buffer, CancellationToken.None)).MessageType != WebSocketMessageType.Close)
            {
            }
            // The server's close frame (at its shutdown): answered so the close completes.
            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Aborted or reset: the socket is over.
        }
    }
}
