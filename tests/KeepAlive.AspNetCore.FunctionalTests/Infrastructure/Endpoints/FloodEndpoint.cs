using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Endpoints;

/// <summary><c>GET /stream</c>: writes 64 KiB at a time as fast as the client reads, until the connection ends.</summary>
internal sealed class FloodEndpoint
{
    public const string Path = "/stream";

    private readonly TaskCompletionSource<ServerConnection> _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentQueue<ServerConnection> _connections = new();

    /// <summary>Completes when the first request reached the app.</summary>
    public Task<ServerConnection> Opened => _opened.Task;

    /// <summary>Every request that reached the app, in order.</summary>
    public IReadOnlyCollection<ServerConnection> Connections => _connections;

    public void MapTo(WebApplication app) => app.MapGet(Path, WriteAsync);

    private async Task WriteAsync(HttpContext context)
    {
        var connection = new ServerConnection(context);
        _connections.Enqueue(connection);
        _opened.TrySetResult(connection);
        var chunk = new byte[64 * 1024];
        var stopping = context.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        try
        {
            // Until the response is over, as the sample's /stream: after a reset Kestrel completes each write at once, as a
            // no-op, and RequestAborted may never fire; the flush says so (IsCompleted). A loop on WriteAsync alone spun the
            // thread pool, and the stalled readers' descriptors were let go one every few seconds as threads were added.
            var writer = context.Response.BodyWriter;
            while (true)
            {
                writer.Write(chunk);
                var flushed = await writer.FlushAsync(ended.Token);
                if (flushed.IsCompleted || flushed.IsCanceled)
                    return;
            }
        }
        catch (Exception) when (ended.IsCancellationRequested || context.RequestAborted.IsCancellationRequested)
        {
            // The connection ended: what the test measures.
        }
        catch (IOException)
        {
            // The write failed as the kernel gave up; Kestrel aborts the request.
        }
    }
}
