using System.Net.WebSockets;
using KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Endpoints;

namespace KeepAlive.AspNetCore.Outage;

/// <summary>
/// The rest of a real crowd's routes beside <see cref="SubscriberStreams"/>' idle streams: an event stream that ticks
/// every second, a WebSocket held open (the server reads it and says nothing), and <c>/ping</c> for the clients that
/// never left. The streams and sockets count into the same per-address <see cref="SubscriberStreams.Subscribers"/>,
/// as ended when <c>RequestAborted</c> fires or when their write or read fails first, whichever comes first: a write that
/// fails ends the handler before Kestrel's abort reaches <c>RequestAborted</c>.
/// </summary>
internal sealed class MixedEndpoints(SubscriberStreams streams)
{
    public const string TicksPath = "/ticks", WebSocketPath = "/ws", PingPath = "/ping";
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);

    public void MapTo(WebApplication app)
    {
        app.UseWebSockets();
        app.MapGet(PingPath, () => "pong");
        app.MapGet(TicksPath, TicksAsync);
        app.Map(WebSocketPath, HoldWebSocketAsync);
    }

    private async Task TicksAsync(HttpContext context)
    {
        var stopping = context.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        using var end = new StreamEnd(streams.From(context.Connection.RemoteIpAddress!), context.RequestAborted, stopping);
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        context.Response.ContentType = "text/event-stream";
        using var ticks = new PeriodicTimer(Tick);
        try
        {
            for (var n = 0; ; n++)
            {
                await context.Response.WriteAsync($"data: {n}\n\n", ended.Token);
                await context.Response.Body.FlushAsync(ended.Token);
                await ticks.WaitForNextTickAsync(ended.Token);
            }
        }
        catch (Exception) when (ended.IsCancellationRequested)
        {
        }
    }

    private async Task HoldWebSocketAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        var stopping = context.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        using var end = new StreamEnd(streams.From(context.Connection.RemoteIpAddress!), context.RequestAborted, stopping);
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        var buffer = new byte[64];
        try
        {
            while ((await socket.ReceiveAsync(buffer, ended.Token)).MessageType != WebSocketMessageType.Close)
            {
            }
            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, ended.Token);
        }
        catch (Exception) when (ended.IsCancellationRequested || socket.State is WebSocketState.Aborted or WebSocketState.Closed)
        {
        }
        catch (WebSocketException)
        {
            // The client went without a close frame (a reset, or an abandoned socket after the server gave up on it).
        }
    }

    /// <summary>One stream's end, counted once: at <c>RequestAborted</c> or when its handler returns, unless the app is stopping.</summary>
    private sealed class StreamEnd : IDisposable
    {
        private readonly SubscriberStreams.Subscribers _subscribers;
        private readonly CancellationToken _stopping;
        private readonly CancellationTokenRegistration _aborted;
        private int _ended;

        public StreamEnd(SubscriberStreams.Subscribers subscribers, CancellationToken aborted, CancellationToken stopping)
        {
            _subscribers = subscribers;
            _stopping = stopping;
            subscribers.OnOpened();
            _aborted = aborted.UnsafeRegister(static s => ((StreamEnd)s!).End(), this);
        }

        public void Dispose()
        {
            _aborted.Dispose();
            if (!_stopping.IsCancellationRequested)
                End();
        }

        private void End()
        {
            if (Interlocked.Exchange(ref _ended, 1) == 0)
                _subscribers.OnAborted();
        }
    }
}
