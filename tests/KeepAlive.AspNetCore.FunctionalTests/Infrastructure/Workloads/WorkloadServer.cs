using System.Net;
using System.Net.WebSockets;
using System.Text;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Workloads;

/// <summary>
/// A real Kestrel app serving one <see cref="Workload"/> as apps do (SSE, a WebSocket with .NET's keepalive ping, a
/// SignalR hub, an HTTP/2 stream with Kestrel's pings, a gRPC server stream), on one endpoint (HTTP/1.1, or HTTP/2 without
/// TLS for the HTTP/2 workloads), under a short policy or the library's defaults; its losses recorded per port.
/// </summary>
internal sealed class WorkloadServer : IAsyncDisposable
{
    public const string EventsPath = "/events", WebSocketPath = "/ws", HubPath = "/hub";
    public const string FirstEvent = "data: open\n\n";
    public const string FirstMessage = "open";
    public static readonly TimeSpan PingDelay = TimeSpan.FromSeconds(5), PingTimeout = TimeSpan.FromSeconds(5);

    private WorkloadServer(Workload workload, KestrelApp app, LogSink logs)
    {
        Workload = workload;
        App = app;
        Logs = logs;
        Losses = new LossRecorder(app.BaseAddress.Port);
        Aborts = app.App.Services.GetRequiredService<AppAborts>();
    }

    public Workload Workload { get; }

    public KestrelApp App { get; }

    public Uri BaseAddress => App.BaseAddress;

    public LossRecorder Losses { get; }

    /// <summary>The library's <c>ConnectionLost</c> lines, and Kestrel's stack traces (there should be none).</summary>
    public LogSink Logs { get; }

    /// <summary>The app's own way to abort each live client (HTTP/1.1 workloads).</summary>
    public AppAborts Aborts { get; }

    /// <summary>Whether the workload runs over HTTP/2 (without TLS, with prior knowledge).</summary>
    public static bool IsHttp2(Workload workload) => workload is Workload.Http2Ping or Workload.GrpcPing or Workload.GrpcIdle;

    /// <param name="workload">What it serves.</param>
    /// <param name="policy">The <c>KeepAlive</c> keys (none: the library's defaults).</param>
    /// <param name="configure">More of the app's configuration (the app's timers, say).</param>
    public static async Task<WorkloadServer> StartAsync(Workload workload, IReadOnlyDictionary<string, string?> policy, Action<WebApplicationBuilder>? configure = null)
    {
        var logs = LogSink.Counting();
        var app = await KestrelApp.StartAsync(builder =>
        {
            builder.Logging.AddProvider(logs);
            builder.Logging.SetMinimumLevel(LogLevel.Information);
            // A vanished peer's connection still open at the end must not hold up the test's disposal.
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(3));
            builder.Configuration.AddInMemoryCollection(policy);
            builder.Services.AddSingleton<AppAborts>();
            builder.WebHost.ConfigureKestrel(kestrel =>
            {
                kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = IsHttp2(workload) ? HttpProtocols.Http2 : HttpProtocols.Http1);
                if (workload is Workload.Http2Ping or Workload.GrpcPing)
                {
                    kestrel.Limits.Http2.KeepAlivePingDelay = PingDelay;
                    kestrel.Limits.Http2.KeepAlivePingTimeout = PingTimeout;
                }
            });
            if (workload == Workload.WebSocketPing)
            {
                builder.Services.Configure<WebSocketOptions>(o =>
                {
                    o.KeepAliveInterval = PingDelay;
                    o.KeepAliveTimeout = PingTimeout;
                });
            }
            if (workload == Workload.SignalR)
                builder.Services.AddSignalR();
            if (workload is Workload.GrpcPing or Workload.GrpcIdle)
                builder.Services.AddGrpc();
            builder.UseKeepAlivePolicy();
            configure?.Invoke(builder);
        }, app => Map(app, workload), defaultEndpoint: false);
        return new WorkloadServer(workload, app, logs);
    }

    public async ValueTask DisposeAsync()
    {
        Losses.Dispose();
        await App.DisposeAsync();
    }

    private static void Map(WebApplication app, Workload workload)
    {
        switch (workload)
        {
            case Workload.WebSocketPing:
                app.UseWebSockets();
                app.Map(WebSocketPath, ServeWebSocketAsync);
                break;
            case Workload.SignalR:
                app.MapHub<EventsHub>(HubPath);
                break;
            case Workload.GrpcPing or Workload.GrpcIdle:
                app.MapGrpcService<EventsService>();
                break;
            default:
                app.MapGet(EventsPath, (HttpContext context, int? every) => StreamEventsAsync(context, every ?? 0));
                break;
        }
    }

    // A first event at once, then one every `every` ms (never for 0), until the connection or the host ends.
    private static async Task StreamEventsAsync(HttpContext context, int every)
    {
        using var ended = Ended(context);
        context.RequestServices.GetRequiredService<AppAborts>().Add(context.Abort, ended.Token);
        context.Response.ContentType = "text/event-stream";
        try
        {
            await context.Response.WriteAsync(FirstEvent, ended.Token);
            await context.Response.Body.FlushAsync(ended.Token);
            while (true)
            {
                await Task.Delay(every > 0 ? every : Timeout.Infinite, ended.Token);
                await context.Response.WriteAsync("data: tick\n\n", ended.Token);
                await context.Response.Body.FlushAsync(ended.Token);
            }
        }
        catch (Exception) when (ended.IsCancellationRequested || context.RequestAborted.IsCancellationRequested)
        {
        }
        catch (IOException)
        {
            // A write met the end first; Kestrel aborts the request.
        }
    }

    // Accepts, says "open", then waits for the client as a chat server does; the WebSocket answers and sends pings meanwhile.
    private static async Task ServeWebSocketAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }
        using var webSocket = await context.WebSockets.AcceptWebSocketAsync();
        using var ended = Ended(context);
        context.RequestServices.GetRequiredService<AppAborts>().Add(webSocket.Abort, ended.Token);
        try
        {
            await webSocket.SendAsync(Encoding.ASCII.GetBytes(FirstMessage), WebSocketMessageType.Text, endOfMessage: true, ended.Token);
            var buffer = new byte[1024];
            while ((await webSocket.ReceiveAsync(buffer, ended.Token)).MessageType != WebSocketMessageType.Close)
            {
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or IOException or Microsoft.AspNetCore.Connections.ConnectionAbortedException)
        {
            // The client or its ping timeout ended it, or the host is stopping.
        }
    }

    private static CancellationTokenSource Ended(HttpContext context) =>
        CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, context.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping);

    /// <summary>A hub its clients connect to and stay connected to.</summary>
    internal sealed class EventsHub(AppAborts aborts) : Hub
    {
        public string Hello() => FirstMessage;

        public override Task OnConnectedAsync()
        {
            aborts.Add(Context.Abort, Context.ConnectionAborted);
            return Task.CompletedTask;
        }
    }

    /// <summary>A gRPC server stream: a first event at once, then one every <c>every_milliseconds</c> (never for 0).</summary>
    internal sealed class EventsService(IHostApplicationLifetime lifetime) : Events.EventsBase
    {
        public override async Task Subscribe(Subscription request, IServerStreamWriter<Event> responseStream, ServerCallContext context)
        {
            using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
            try
            {
                await responseStream.WriteAsync(new Event { Data = FirstMessage }, ended.Token);
                while (true)
                {
                    await Task.Delay(request.EveryMilliseconds > 0 ? request.EveryMilliseconds : Timeout.Infinite, ended.Token);
                    await responseStream.WriteAsync(new Event { Data = "tick" }, ended.Token);
                }
            }
            catch (Exception) when (ended.IsCancellationRequested)
            {
            }
        }
    }
}
