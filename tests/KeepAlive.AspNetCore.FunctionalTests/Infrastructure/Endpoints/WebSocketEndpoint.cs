using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Endpoints;

/// <summary>
/// <c>/ws</c>: accepts a WebSocket, sends one text message (<c>open</c>), then waits in
/// <see cref="WebSocket.ReceiveAsync(ArraySegment{byte}, CancellationToken)"/>, as a chat or
/// notification server does; records when and how that receive ended.
/// </summary>
internal sealed class WebSocketEndpoint
{
    public const string Path = "/ws";
    public const string FirstMessage = "open";

    private readonly TaskCompletionSource<ServerConnection> _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<(long Timestamp, Exception? Error)> _receiveEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the WebSocket was accepted.</summary>
    public Task<ServerConnection> Opened => _opened.Task;

    /// <summary>Completes when the server's receive returned or threw: the timestamp and the exception, if any.</summary>
    public Task<(long Timestamp, Exception? Error)> ReceiveEnded => _receiveEnded.Task;

    public void MapTo(WebApplication app)
    {
        // No WebSocket pings: the server's own keepalive frames would be data in flight, and the
        // connection must be idle at the TCP level for keepalive probes to be sent.
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.Zero });
        app.Map(Path, ServeAsync);
    }

    private async Task ServeAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        using var webSocket = await context.WebSockets.AcceptWebSocketAsync();
        var connection = new ServerConnection(context);
        _opened.TrySetResult(connection);
        await webSocket.SendAsync(Encoding.ASCII.GetBytes(FirstMessage), WebSocketMessageType.Text, endOfMessage: true, context.RequestAborted);

        // Not RequestAborted: the test wants to see the receive itself fail when the transport dies.
        // Shutdown ends it, so that disposing the app does not wait for a vanished peer.
        var stopping = context.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        try
        {
            await webSocket.ReceiveAsync(new byte[1024], stopping);
            _receiveEnded.TrySetResult((Stopwatch.GetTimestamp(), null));
        }
        catch (Exception ex)
        {
            _receiveEnded.TrySetResult((Stopwatch.GetTimestamp(), ex));
        }
    }
}
