using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Connections.Features;
using OpenTelemetry.Metrics;

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

// The library's meter and Kestrel's (AddKeepAliveInstrumentation adds both), scraped at /metrics, and
// sent over OTLP too when the standard variables name a collector (OTEL_EXPORTER_OTLP_PROTOCOL,
// OTEL_METRIC_EXPORT_INTERVAL and the others apply as usual).
var otlp = new[] { "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" }.Any(name => !string.IsNullOrEmpty(builder.Configuration[name]));
builder.Services.AddOpenTelemetry().WithMetrics(metrics =>
{
    metrics.AddKeepAliveInstrumentation().AddPrometheusExporter();
    if (otlp)
        metrics.AddOtlpExporter();
});

var app = builder.Build();

// Routes with a policy of their own (the streams below) get it on their connection.
app.UseKeepAliveRoutePolicies();

app.MapPrometheusScrapingEndpoint(); // GET /metrics

app.MapGet("/", () => """
    KeepAlive.AspNetCore sample.
    GET /events          an event stream: one event, then silence (a dead client is found by keepalive probes)
    GET /ticks?every=1   an event stream with an event every `every` seconds (found by the user timeout)
    GET /stream          a response written as fast as the client reads (a client that stops reading: the user timeout)
    GET /connection      the keepalive options the kernel holds for this connection
    GET /metrics         the metrics, for Prometheus
    """);

// The three cases an operator meets, all under the "streaming" policy of appsettings.json
// (Idle 15 s, Interval 5 s, ProbeCount 3: a vanished client is let go after 30 s instead of 2 min).
// 1. An idle stream: the first event, then nothing. Only keepalive probes can tell that its client vanished.
app.MapGet("/events", (HttpContext context, ILogger<Program> logger) =>
    TypedResults.ServerSentEvents(Events(Timeout.InfiniteTimeSpan, context, logger)))
    .WithKeepAlivePolicy("streaming");

// 2. A ticking stream: the server keeps writing, so probes never go out; the user timeout ends a dead
//    client's connection when its data stays unacknowledged.
app.MapGet("/ticks", (int? every, HttpContext context, ILogger<Program> logger) =>
    TypedResults.ServerSentEvents(Events(TimeSpan.FromSeconds(Math.Max(every ?? 1, 1)), context, logger)))
    .WithKeepAlivePolicy("streaming");

// 3. A download as fast as the client reads. A client that is alive but stops reading (a frozen tab, a
//    stuck consumer) closes its receive window; the writes wait, and the user timeout ends the connection.
app.MapGet("/stream", async (HttpContext context, ILogger<Program> logger) =>
{
    var block = new byte[64 * 1024];
    Array.Fill(block, (byte)'.');
    context.Response.ContentType = "application/octet-stream";
    var started = TimeProvider.System.GetTimestamp();
    try
    {
        while (!context.RequestAborted.IsCancellationRequested)
            await context.Response.Body.WriteAsync(block, context.RequestAborted);
    }
    catch (Exception ex) when (ex is OperationCanceledException or IOException)
    {
    }
    logger.LogInformation("Stream to {Remote} ended after {Elapsed}.", context.Connection.RemoteIpAddress, TimeProvider.System.GetElapsedTime(started));
}).WithKeepAlivePolicy("streaming");

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
        : Results.Problem("This connection has no TCP socket (HTTP/3, a Unix socket or a test server)."));

// Every connection the server holds, worst first (README, "The connection view"). It lists client addresses,
// personal data: here local callers only (anyone else gets 403); in production use RequireAuthorization(...).
app.MapKeepAliveConnections("/keepalive/connections").AddEndpointFilter((context, next) =>
    context.HttpContext.Connection.RemoteIpAddress is { } caller && System.Net.IPAddress.IsLoopback(caller.IsIPv4MappedToIPv6 ? caller.MapToIPv4() : caller)
        ? next(context)
        : ValueTask.FromResult<object?>(Results.StatusCode(StatusCodes.Status403Forbidden)));

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
