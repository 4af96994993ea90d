using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Connections.Features;
using OpenTelemetry;
using OpenTelemetry.Metrics;

var builder = WebApplication.CreateBuilder(args);

// Every TCP connection Kestrel accepts gets the policy in appsettings.json's "KeepAlive" section.
builder.UseKeepAlivePolicy();

var app = builder.Build();

// Metrics to the OTLP endpoint in OTEL_EXPORTER_OTLP_ENDPOINT (OTEL_EXPORTER_OTLP_PROTOCOL and
// OTEL_METRIC_EXPORT_INTERVAL apply as usual). This uses the SDK's own entry point, disposed (and so
// flushed) when the app stops: OpenTelemetry.Extensions.Hosting, whose services.AddOpenTelemetry()
// would tie it to the host, is not on this project's package mirror.
using var telemetry = Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT") is { Length: > 0 }
    ? OpenTelemetrySdk.Create(otel => otel.WithMetrics(metrics => metrics
        .AddKeepAliveInstrumentation()
        .AddMeter("Microsoft.AspNetCore.Server.Kestrel") // kestrel.active_connections, kestrel.connection.duration
        .AddOtlpExporter()))
    : null;

// Routes with a policy of their own (below: the event stream) get it on their connection.
app.UseKeepAliveRoutePolicies();

app.MapGet("/", () => "KeepAlive.AspNetCore sample. GET /events for a server-sent event stream, /connection for this connection's socket options.");

// A long-lived stream: one event every `every` seconds (0: only the first, then silence, the case only
// TCP keepalive can clean up when the client vanishes). Its connections get the "streaming" policy of
// appsettings.json: a vanished browser is let go after 30 s instead of 2 min.
app.MapGet("/events", (int? every, HttpContext context, ILogger<Program> logger) =>
    TypedResults.ServerSentEvents(Ticks(TimeSpan.FromSeconds(every ?? 5), context, logger)))
    .WithKeepAlivePolicy("streaming");

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

app.Run();

static async IAsyncEnumerable<string> Ticks(TimeSpan every, HttpContext context, ILogger logger, [EnumeratorCancellation] CancellationToken cancellationToken = default)
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
        await Task.Delay(every > TimeSpan.Zero ? every : Timeout.InfiniteTimeSpan, aborted);
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
