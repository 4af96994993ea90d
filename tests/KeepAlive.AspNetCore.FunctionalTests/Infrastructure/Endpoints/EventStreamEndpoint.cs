using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Endpoints;

/// <summary>
/// <c>GET /events</c>: a server-sent event stream that flushes a first event (<c>data: open</c>), then
/// either stays silent (an idle stream; <see cref="SendEvent"/> writes one more on demand) or writes an
/// event every <c>every</c>. It runs until the connection ends, so <c>RequestAborted</c> reports the end.
/// </summary>
internal sealed class EventStreamEndpoint(TimeSpan? every = null, string path = EventStreamEndpoint.Path)
{
    public const string Path = "/events";
    public const string FirstEvent = "data: open\n\n";

    private readonly TaskCompletionSource<ServerConnection> _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _sendEvent = new(0);

    /// <summary>Completes when the stream's request reached the app.</summary>
    public Task<ServerConnection> Opened => _opened.Task;

    public void MapTo(WebApplication app) => Map(app);

    /// <summary>Maps the stream and returns its endpoint, for conventions (a route policy).</summary>
    public IEndpointConventionBuilder Map(WebApplication app) => app.MapGet(path, StreamAsync);

    /// <summary>
    /// Opens the stream from <paramref name="client"/> and waits for the first event, so the server has
    /// written and the client's kernel acknowledged everything so far.
    /// </summary>
    public async Task<ServerConnection> OpenAsync(VanishingClient client)
    {
        var response = await client.SendAndReadUntilAsync($"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n", FirstEvent);
        Assert.StartsWith("HTTP/1.1 200", response, StringComparison.Ordinal);
        return await Deadline.WithinAsync(Opened, TimeSpan.FromSeconds(5), "The stream's request reaching the app");
    }

    /// <summary>Makes an idle stream write one more event.</summary>
    public void SendEvent() => _sendEvent.Release();

    private async Task StreamAsync(HttpContext context)
    {
        var connection = new ServerConnection(context);
        _opened.TrySetResult(connection);

        // Also end on shutdown, so that disposing the app does not wait for a stream to a vanished peer.
        var stopping = context.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);

        context.Response.ContentType = "text/event-stream";
        try
        {
            await WriteAsync(context, FirstEvent, ended.Token);
            for (var n = 1; ; n++)
            {
                if (every is { } interval)
                    await Task.Delay(interval, ended.Token);
                else
                    await _sendEvent.WaitAsync(ended.Token);
                await WriteAsync(context, $"data: {n}\n\n", ended.Token);
            }
        }
        catch (Exception) when (ended.IsCancellationRequested)
        {
        }
        catch (Exception)
        {
            // A write failed before Kestrel aborted the request: keep the request open until it does,
            // so that RequestAborted (what the test measures) still fires.
            try
            {
                await Task.Delay(Timeout.Infinite, ended.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    private static async Task WriteAsync(HttpContext context, string text, CancellationToken cancellationToken)
    {
        await context.Response.WriteAsync(text, cancellationToken);
        await context.Response.Body.FlushAsync(cancellationToken);
    }
}
