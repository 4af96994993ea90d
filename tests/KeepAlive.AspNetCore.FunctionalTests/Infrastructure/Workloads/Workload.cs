namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Workloads;

/// <summary>The long-lived connections ASP.NET Core apps hold, each driven by its real client in the fault tests.</summary>
internal enum Workload
{
    /// <summary>A server-sent event stream: one event, then silence.</summary>
    IdleEvents,

    /// <summary>A server-sent event stream with an event every second.</summary>
    TickingEvents,

    /// <summary>A server-sent event stream with a heartbeat every few seconds (its clients say how often): idle between writes.</summary>
    Heartbeat,

    /// <summary>A WebSocket whose server pings every 5 s and waits 5 s for the PONG (.NET's WebSocketOptions.KeepAliveTimeout).</summary>
    WebSocketPing,

    /// <summary>A SignalR hub connection (WebSockets transport), SignalR's defaults: client timeout 30 s, pings every 15 s.</summary>
    SignalR,

    /// <summary>An HTTP/2 event stream whose server pings after 5 s without frames and waits 5 s (Kestrel's Http2 keepalive).</summary>
    Http2Ping,

    /// <summary>A gRPC server stream (HTTP/2) with Kestrel's keepalive pings, 5 s and 5 s.</summary>
    GrpcPing,

    /// <summary>A gRPC server stream (HTTP/2) without keepalive pings, idle after its first message.</summary>
    GrpcIdle,
}
