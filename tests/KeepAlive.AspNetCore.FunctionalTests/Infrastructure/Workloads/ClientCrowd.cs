using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Workloads;

/// <summary>
/// Real clients of one workload, <see cref="Count"/> of them from one loopback address, each holding its connection
/// open as it would in production: an event stream read (raw HTTP/1.1, or HttpClient over HTTP/2), a ClientWebSocket
/// answering the server's pings, a SignalR HubConnection (WebSockets transport) with its own pings, a gRPC call reading
/// its server stream. A drop rule for <see cref="Address"/> makes them all vanish at once.
/// </summary>
internal sealed class ClientCrowd : IAsyncDisposable
{
    // Kestrel's listen backlog is 512; a few connects at a time keep the machine's load low.
    private const int ConnectsInFlight = 8;
    private static readonly TimeSpan OpenTimeout = TimeSpan.FromSeconds(20);

    private readonly ClientSockets _sockets;
    private readonly List<Func<ValueTask>> _closes = [];
    private readonly List<Func<Task>> _leaves = [];
    private readonly Lock _lock = new();
    private Uri _target = null!;
    private TimeSpan? _hubKeepAlive;

    private ClientCrowd(IPAddress address) => _sockets = new ClientSockets(address);

    public IPAddress Address => _sockets.Address;

    public int Count { get; private set; }

    /// <summary>Opens <paramref name="count"/> clients of <paramref name="server"/>'s workload, each with its first message received.</summary>
    /// <param name="every">For the event streams: ms between events (0: none after the first).</param>
    /// <param name="via">Where the clients connect instead of the server itself (a proxy in front of it).</param>
    /// <param name="hubKeepAlive">For SignalR: how often the clients ping (SignalR's 15 s by default).</param>
    public static async Task<ClientCrowd> OpenAsync(WorkloadServer server, IPAddress address, int count, int every = 0, Uri? via = null, TimeSpan? hubKeepAlive = null)
    {
        var crowd = new ClientCrowd(address) { _target = via ?? server.BaseAddress, _hubKeepAlive = hubKeepAlive };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(OpenTimeout);
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = ConnectsInFlight, CancellationToken = timeout.Token },
                async (_, ct) =>
                {
                    var (close, leave) = await crowd.OpenOneAsync(server, every, ct);
                    lock (crowd._lock)
                    {
                        crowd._closes.Add(close);
                        crowd._leaves.Add(leave);
                    }
                });
        }
        catch
        {
            await crowd.DisposeAsync();
            throw;
        }
        crowd.Count = count;
        return crowd;
    }

    /// <summary>The clients close abortively (their sockets reset), as when the test is over.</summary>
    public async ValueTask DisposeAsync()
    {
        _sockets.Abandon();
        List<Func<ValueTask>> closes;
        lock (_lock)
            closes = [.. _closes];
        // The libraries may try a graceful close first; with their sockets gone it fails fast, and is bounded here anyway.
        await Task.WhenAll(closes.Select(c => c().AsTask())).WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
    }

    /// <summary>
    /// Every client leaves in the normal course: a FIN after its stream, a WebSocket close handshake, a SignalR stop, an
    /// HTTP/2 or gRPC client disposed.
    /// </summary>
    public async Task LeaveAsync()
    {
        List<Func<Task>> leaves;
        lock (_lock)
            leaves = [.. _leaves];
        await Task.WhenAll(leaves.Select(l => l())).WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
    }

    private Task<(Func<ValueTask> Close, Func<Task> Leave)> OpenOneAsync(WorkloadServer server, int every, CancellationToken ct) => server.Workload switch
    {
        Workload.WebSocketPing => OpenWebSocketAsync(_target, ct),
        Workload.SignalR => OpenHubConnectionAsync(_target, ct),
        Workload.Http2Ping => OpenHttp2StreamAsync(_target, ct),
        Workload.GrpcPing or Workload.GrpcIdle => OpenGrpcStreamAsync(_target, every, ct),
        _ => OpenEventStreamAsync(_target, every, ct),
    };

    // Raw HTTP/1.1, as a browser's EventSource: the request, the headers and the first event, then reading nothing more.
    private async Task<(Func<ValueTask>, Func<Task>)> OpenEventStreamAsync(Uri server, int every, CancellationToken ct)
    {
        var stream = (NetworkStream)await _sockets.ConnectAsync(new IPEndPoint(IPAddress.Parse(server.Host), server.Port), ct);
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {WorkloadServer.EventsPath}?every={every} HTTP/1.1\r\nHost: x\r\n\r\n"), ct);
        await ReadUntilAsync(stream, WorkloadServer.FirstEvent, ct);
        // Read on, as EventSource does, so the ticks are acknowledged and the window stays open.
        _ = DrainAsync(stream);
        return (() => stream.DisposeAsync(), () =>
        {
            // A closing tab: its FIN.
            stream.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Both);
            stream.Dispose();
            return Task.CompletedTask;
        });
    }

    private async Task<(Func<ValueTask>, Func<Task>)> OpenWebSocketAsync(Uri server, CancellationToken ct)
    {
        // The client sends no pings of its own (KeepAliveInterval 0): the server's, answered while a receive is pending, are the test.
        var webSocket = new ClientWebSocket();
        webSocket.Options.KeepAliveInterval = TimeSpan.Zero;
        await webSocket.ConnectAsync(new Uri($"ws://{server.Authority}{WorkloadServer.WebSocketPath}"), new HttpMessageInvoker(_sockets.Handler()), ct);
        var buffer = new byte[256];
        var first = await webSocket.ReceiveAsync(buffer, ct);
        if (Encoding.ASCII.GetString(buffer, 0, first.Count) != WorkloadServer.FirstMessage)
            throw new InvalidOperationException("The WebSocket's first message was not 'open'.");
        var receiving = ReceiveOnAsync(webSocket);
        return (() =>
        {
            webSocket.Abort();
            webSocket.Dispose();
            return ValueTask.CompletedTask;
        }, async () =>
        {
            // The close handshake: ours, then the server's answer, which the receive loop reads.
            await webSocket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", TestContext.Current.CancellationToken);
            await receiving;
            webSocket.Dispose();
        });
    }

    private async Task<(Func<ValueTask>, Func<Task>)> OpenHubConnectionAsync(Uri server, CancellationToken ct)
    {
        var builder = new HubConnectionBuilder();
        if (_hubKeepAlive is { } keepAlive)
            builder.WithKeepAliveInterval(keepAlive);
        var connection = builder
            .WithUrl(new Uri(server, WorkloadServer.HubPath), o =>
            {
                o.Transports = HttpTransportType.WebSockets;
                o.SkipNegotiation = true;
                o.WebSocketFactory = async (context, token) =>
                {
                    var webSocket = new ClientWebSocket();
                    await webSocket.ConnectAsync(context.Uri, new HttpMessageInvoker(_sockets.Handler()), token);
                    return webSocket;
                };
            })
            .Build();
        await connection.StartAsync(ct);
        if (await connection.InvokeAsync<string>(nameof(WorkloadServer.EventsHub.Hello), ct) != WorkloadServer.FirstMessage)
            throw new InvalidOperationException("The hub did not answer.");
        return (connection.DisposeAsync, () => connection.StopAsync(TestContext.Current.CancellationToken));
    }

    private async Task<(Func<ValueTask>, Func<Task>)> OpenHttp2StreamAsync(Uri server, CancellationToken ct)
    {
        var client = new HttpClient(_sockets.Handler()) { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact, Timeout = Timeout.InfiniteTimeSpan };
        var response = await client.GetAsync(new Uri(server, WorkloadServer.EventsPath), HttpCompletionOption.ResponseHeadersRead, ct);
        var stream = await response.EnsureSuccessStatusCode().Content.ReadAsStreamAsync(ct);
        await ReadUntilAsync(stream, WorkloadServer.FirstEvent, ct);
        _ = DrainAsync(stream);
        ValueTask Close()
        {
            response.Dispose();
            client.Dispose();
            return ValueTask.CompletedTask;
        }
        return (Close, () => Close().AsTask());
    }

    private async Task<(Func<ValueTask>, Func<Task>)> OpenGrpcStreamAsync(Uri server, int every, CancellationToken ct)
    {
        var channel = GrpcChannel.ForAddress(server, new GrpcChannelOptions { HttpHandler = _sockets.Handler(), DisposeHttpClient = true });
        var call = new Events.EventsClient(channel).Subscribe(new Subscription { EveryMilliseconds = every }, cancellationToken: CancellationToken.None);
        if (!await call.ResponseStream.MoveNext(ct) || call.ResponseStream.Current.Data != WorkloadServer.FirstMessage)
            throw new InvalidOperationException("The gRPC stream's first event was not 'open'.");
        _ = ReadOnAsync(call.ResponseStream);
        ValueTask Close()
        {
            call.Dispose();
            channel.Dispose();
            return ValueTask.CompletedTask;
        }
        return (Close, () => Close().AsTask());
    }

    private static async Task ReadUntilAsync(Stream stream, string expected, CancellationToken ct)
    {
        var received = new StringBuilder();
        var buffer = new byte[1024];
        while (!received.ToString().Contains(expected, StringComparison.Ordinal))
        {
            var read = await stream.ReadAsync(buffer, ct);
            if (read == 0)
                throw new InvalidOperationException($"The server closed the stream before '{expected.Trim()}': '{received}'.");
            received.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }
    }

    // Reading on ends with the connection (an error, or the test's dispose): nothing to observe.
    private static async Task DrainAsync(Stream stream)
    {
        var buffer = new byte[1024];
        try
        {
            while (await stream.ReadAsync(buffer) > 0)
            {
            }
        }
        catch (Exception)
        {
        }
    }

    private static async Task ReceiveOnAsync(ClientWebSocket webSocket)
    {
        var buffer = new byte[256];
        try
        {
            while (webSocket.State == WebSocketState.Open && (await webSocket.ReceiveAsync(buffer, CancellationToken.None)).MessageType != WebSocketMessageType.Close)
            {
            }
        }
        catch (Exception)
        {
        }
    }

    private static async Task ReadOnAsync(IAsyncStreamReader<Event> stream)
    {
        try
        {
            while (await stream.MoveNext(CancellationToken.None))
            {
            }
        }
        catch (Exception)
        {
        }
    }
}
