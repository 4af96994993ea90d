using System.Net.Sockets;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

var builder = WebApplication.CreateBuilder(args);

// Listens where ASPNETCORE_URLS, ASPNETCORE_HTTP_PORTS (or _HTTPS_PORTS), --urls or Kestrel:Endpoints say;
// http://localhost:5080 only when none of them does.
if (new[] { WebHostDefaults.ServerUrlsKey, WebHostDefaults.HttpPortsKey, WebHostDefaults.HttpsPortsKey }.All(key => string.IsNullOrEmpty(builder.Configuration[key]))
    && !builder.Configuration.GetSection("Kestrel:Endpoints").Exists())
{
    builder.WebHost.UseUrls("http://localhost:5080");
}

// Every TCP connection Kestrel accepts gets the policy in appsettings.json's "KeepAlive" section.
builder.UseKeepAlivePolicy();

// OpenTelemetry as an Aspire ServiceDefaults project sets it up: the library's meter and Kestrel's
// (AddKeepAliveInstrumentation adds both), scraped at /metrics, and, when the standard variables name a
// collector or the Aspire dashboard (OTEL_EXPORTER_OTLP_ENDPOINT; OTEL_EXPORTER_OTLP_PROTOCOL,
// OTEL_METRIC_EXPORT_INTERVAL and the others apply as usual), metrics and logs over OTLP: the library's
// ConnectionLost records (client address, cause) then reach the dashboard's structured logs.
// service.name is the sample's own unless OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) says
// otherwise: the environment detector runs after AddService, so it wins.
const string ServiceName = "KeepAlive.Sample.WebApi";
const string EchoWebSocket = "echo";
var otlp = new[] { "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT" }
    .Any(name => !string.IsNullOrEmpty(builder.Configuration[name]));
builder.Logging.AddOpenTelemetry(logging =>
{
    logging.IncludeFormattedMessage = true;
    logging.IncludeScopes = true;
});
var openTelemetry = builder.Services.AddOpenTelemetry()
    .ConfigureResource(resource => resource.AddService(ServiceName).AddEnvironmentVariableDetector())
    .WithMetrics(metrics => metrics.AddKeepAliveInstrumentation().AddPrometheusExporter());
if (otlp)
    openTelemetry.UseOtlpExporter();

// The long-lived workloads beside the event streams, each with its framework's own keepalive ping. Their timers are
// the frameworks' defaults unless configuration sets them (SignalR__KeepAliveInterval=00:00:05, WebSockets__KeepAliveTimeout=00:00:10, ...).
builder.Services.AddSignalR();
builder.Services.Configure<HubOptions>(builder.Configuration.GetSection("SignalR"));
// The echo's own options, named: AddSignalR sets the app-wide WebSocketOptions.KeepAliveInterval to zero (SignalR pings
// by itself), so the echo would otherwise get no keepalive at all rather than .NET's default.
builder.Services.Configure<WebSocketOptions>(EchoWebSocket, builder.Configuration.GetSection("WebSockets"));

var app = builder.Build();

// Routes with a policy of their own (the streams below) get it on their connection.
app.UseKeepAliveRoutePolicies();
// WebSocket upgrades, for /ws and SignalR's WebSocket transport.
app.UseWebSockets();

// Every route this app maps, with its description: the list cannot leave one out.
app.MapGet("/", (EndpointDataSource endpoints) => string.Join('\n',
    endpoints.Endpoints.OfType<RouteEndpoint>()
        .Select(e => (Route: "/" + e.RoutePattern.RawText?.TrimStart('/'), Description: e.Metadata.GetMetadata<IEndpointDescriptionMetadata>()?.Description ?? ""))
        .Distinct()
        .Select(e => $"{e.Route,-24} {e.Description}")
        .Prepend("KeepAlive.AspNetCore sample. Routes:")) + "\n")
    .WithDescription("this list");

app.MapPrometheusScrapingEndpoint() // GET /metrics
    .WithDescription("the metrics, for Prometheus");

// The three cases an operator meets, all under the "streaming" policy of appsettings.json
// (Idle 15 s, Interval 5 s, ProbeCount 3: a vanished client is let go after 30 s instead of 2 min).
// 1. An idle stream: the first event, then nothing. Only keepalive probes can tell that its client vanished.
app.MapGet("/events", (HttpContext context, ILogger<Program> logger) =>
    TypedResults.ServerSentEvents(Events(Timeout.InfiniteTimeSpan, context, logger)))
    .WithKeepAlivePolicy("streaming")
    .WithDescription("an event stream: one event, then silence (a dead client is found by keepalive probes)");

// 2. A ticking stream: the server keeps writing, so probes never go out; the user timeout ends a dead
//    client's connection when its data stays unacknowledged.
app.MapGet("/ticks", (int? every, HttpContext context, ILogger<Program> logger) =>
    TypedResults.ServerSentEvents(Events(TimeSpan.FromSeconds(Math.Max(every ?? 1, 1)), context, logger)))
    .WithKeepAlivePolicy("streaming")
    .WithDescription("?every=1: an event stream with an event every `every` seconds (a dead client is found by the user timeout)");

// 3. A download as fast as the client reads. A client that is alive but stops reading (a frozen tab, a
//    stuck consumer) closes its receive window; the writes wait, and the user timeout ends the connection.
app.MapGet("/stream", async (HttpContext context, ILogger<Program> logger) =>
{
    context.Response.ContentType = "application/octet-stream";
    var writer = context.Response.BodyWriter;
    var started = TimeProvider.System.GetTimestamp();
    try
    {
        // Stop when the response is over. After a client's reset Kestrel completes further writes at once, as
        // no-ops, and RequestAborted may never fire: a loop on RequestAborted alone would spin a core. The
        // flush says so (IsCompleted), and says when the app cancelled it (IsCanceled).
        while (!context.RequestAborted.IsCancellationRequested)
        {
            var block = writer.GetSpan(64 * 1024);
            block.Fill((byte)'.');
            writer.Advance(block.Length);
            var flushed = await writer.FlushAsync(context.RequestAborted);
            if (flushed.IsCompleted || flushed.IsCanceled)
                break;
        }
    }
    catch (Exception ex) when (ex is OperationCanceledException or IOException)
    {
    }
    logger.LogInformation("Stream to {Remote} ended after {Elapsed}.", context.Connection.RemoteIpAddress, TimeProvider.System.GetElapsedTime(started));
})
    .WithKeepAlivePolicy("streaming")
    .WithDescription("a response written as fast as the client reads (a client that stops reading: the user timeout)");

// 4. SignalR: its server pings every SignalR:KeepAliveInterval (15 s) and drops a client silent for
//    SignalR:ClientTimeoutInterval (30 s), whichever of it and the policy notices a dead client first.
app.MapHub<EchoHub>("/hub")
    .WithKeepAlivePolicy("streaming")
    .WithDescription("a SignalR hub (Echo, Ticks); SignalR__KeepAliveInterval, SignalR__ClientTimeoutInterval");

// 5. A WebSocket echo with .NET's keepalive ping: every WebSockets:KeepAliveInterval (2 min by default) an unsolicited
//    PONG or, with WebSockets:KeepAliveTimeout set (.NET 9+), a PING, and a WebSocket whose PONG does not come in time is ended.
app.Map("/ws", async (HttpContext context, IOptionsMonitor<WebSocketOptions> options, ILogger<Program> logger) =>
{
    if (!context.WebSockets.IsWebSocketRequest)
    {
        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        await context.Response.WriteAsync("A WebSocket echo: connect with a WebSocket client (ws://.../ws).\n");
        return;
    }
    var keepAlive = options.Get(EchoWebSocket);
    using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
    {
        KeepAliveInterval = keepAlive.KeepAliveInterval,
        KeepAliveTimeout = keepAlive.KeepAliveTimeout,
    });
    var started = TimeProvider.System.GetTimestamp();
    var ended = "closed by the client";
    var buffer = new byte[4096];
    try
    {
        while (true)
        {
            var received = await socket.ReceiveAsync(buffer, context.RequestAborted);
            if (received.MessageType == WebSocketMessageType.Close)
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, context.RequestAborted);
                break;
            }
            await socket.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, context.RequestAborted);
        }
    }
    catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or Microsoft.AspNetCore.Connections.ConnectionAbortedException)
    {
        // A keepalive timeout (no PONG within WebSockets:KeepAliveTimeout) aborts the connection: ReceiveAsync throws.
        ended = $"{ex.GetType().Name}: {ex.Message}";
    }
    logger.LogInformation("WebSocket to {Remote} ended after {Elapsed}: {Ended}", context.Connection.RemoteIpAddress, TimeProvider.System.GetElapsedTime(started), ended);
})
    .WithKeepAlivePolicy("streaming")
    .WithDescription("a WebSocket echo with .NET's keepalive ping; WebSockets__KeepAliveInterval, WebSockets__KeepAliveTimeout");

// The keepalive options the kernel holds for the caller's own connection, read back with getsockopt.
app.MapGet("/connection", (HttpContext context) =>
    context.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket
        ? Results.Ok(new
        {
            keepAlive = (int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive)! != 0,
            idleSeconds = (int)socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime)!,
            intervalSeconds = (int)socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval)!,
            probeCount = (int)socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount)!,
            userTimeoutMilliseconds = OperatingSystem.IsLinux() ? ReadUserTimeout(socket) : (int?)null,
        })
        : Results.Problem("This connection has no TCP socket (HTTP/3, a Unix socket or a test server)."))
    .WithDescription("the keepalive options the kernel holds for this connection");

// Every connection the server holds, worst first (README, "The connection view"). It lists client addresses,
// personal data: here local callers only (anyone else gets 403); in production use RequireAuthorization(...).
app.MapKeepAliveConnections("/keepalive/connections").AddEndpointFilter((context, next) =>
    context.HttpContext.Connection.RemoteIpAddress is { } caller && System.Net.IPAddress.IsLoopback(caller.IsIPv4MappedToIPv6 ? caller.MapToIPv4() : caller)
        ? next(context)
        : ValueTask.FromResult<object?>(Results.StatusCode(StatusCodes.Status403Forbidden)))
    .WithDescription("?state=probing: every open connection, worst first (local callers only)");

app.Run();

// One event at once, then one every `every` (never, for an infinite span), until the client goes.
static async IAsyncEnumerable<string> Events(TimeSpan every, HttpContext context, ILogger logger, [EnumeratorCancellation] CancellationToken cancellationToken = default)
{
    var started = TimeProvider.System.GetTimestamp();
    try
    {
        yield return $"connected {DateTimeOffset.UtcNow:O}";
        while (await Wait(every, context.RequestAborted))
            yield return $"tick {DateTimeOffset.UtcNow:O}";
    }
    finally
    {
        logger.LogInformation("Stream to {Remote} ended after {Elapsed}.", context.Connection.RemoteIpAddress, TimeProvider.System.GetElapsedTime(started));
    }
}

static async Task<bool> Wait(TimeSpan every, CancellationToken aborted)
{
    try
    {
        await Task.Delay(every, aborted);
        return true;
    }
    catch (OperationCanceledException)
    {
        return false;
    }
}

// TCP_USER_TIMEOUT (IPPROTO_TCP 18, milliseconds) is not among .NET's SocketOptionName members.
static int ReadUserTimeout(Socket socket)
{
    Span<byte> value = stackalloc byte[4];
    socket.GetRawSocketOption(6, 18, value);
    return BitConverter.ToInt32(value);
}

/// <summary>The sample's SignalR hub: an echo, and a stream of ticks a client can hold open.</summary>
internal sealed class EchoHub : Hub
{
    public string Echo(string message) => message;

    public async IAsyncEnumerable<string> Ticks(int everySeconds, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            yield return $"tick {DateTimeOffset.UtcNow:O}";
            await Task.Delay(TimeSpan.FromSeconds(Math.Max(everySeconds, 1)), cancellationToken);
        }
    }
}
