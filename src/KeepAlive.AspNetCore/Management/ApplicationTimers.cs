using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The timers above TCP that end a connection whose peer went silent, as the app configured them: Kestrel's HTTP/2
/// keepalive ping, a WebSocket's keepalive ping, SignalR's client timeout. Read once, when the policies are built: they
/// say who notices a vanished client first (the startup warnings), when a connection Kestrel closes gracefully is worth
/// reading at its end, and where the silence histogram needs its boundaries.
/// </summary>
/// <remarks>
/// Only what the services hold: <c>WebSocketOptions</c> passed to <c>app.UseWebSockets(options)</c> directly, per-hub
/// options and a <c>WebSocketAcceptContext</c>'s own keepalive are not seen.
/// </remarks>
internal sealed class ApplicationTimers
{
    // SignalR's WebSockets transport waits this long for the client's close before it aborts (HttpConnectionDispatcherOptions).
    private static readonly TimeSpan SignalRCloseTimeout = new Microsoft.AspNetCore.Http.Connections.HttpConnectionDispatcherOptions().WebSockets.CloseTimeout;

    private ApplicationTimers(IReadOnlyList<ApplicationTimer> all) => All = all;

    /// <summary>No timer: a host without Kestrel, SignalR or WebSockets, or a test.</summary>
    public static ApplicationTimers None { get; } = new([]);

    /// <summary>Every timer configured, shortest first.</summary>
    public IReadOnlyList<ApplicationTimer> All { get; }

    /// <summary>
    /// The HTTP/2 keepalive ping's span, or <see langword="null"/> when it is off: the one timer that ends a connection
    /// gracefully (a GOAWAY, no abort), so the connection reads TCP_INFO at its end to tell whether its peer was silent.
    /// </summary>
    public TimeSpan? Http2PingEndsAfter => All.FirstOrDefault(t => t.Kind == ApplicationTimerKind.Http2Ping)?.EndsAfter;

    public static ApplicationTimers Read(IServiceProvider services)
    {
        var timers = new List<ApplicationTimer>();
        if (services.GetService<IOptions<KestrelServerOptions>>()?.Value.Limits.Http2 is { KeepAlivePingDelay: var delay, KeepAlivePingTimeout: var timeout } &&
            delay != TimeSpan.MaxValue && timeout != TimeSpan.MaxValue)
        {
            timers.Add(new(ApplicationTimerKind.Http2Ping,
                $"Kestrel's Limits.Http2.KeepAlivePingDelay ({Format(delay)}) + KeepAlivePingTimeout ({Format(timeout)})", delay + timeout, delay, CountedBehindProxy: false));
        }
        if (services.GetService<IOptions<WebSocketOptions>>()?.Value is { KeepAliveInterval: var interval, KeepAliveTimeout: var pong } &&
            interval > TimeSpan.Zero && pong > TimeSpan.Zero && pong != Timeout.InfiniteTimeSpan)
        {
            timers.Add(new(ApplicationTimerKind.WebSocketPing,
                $"WebSocketOptions.KeepAliveInterval ({Format(interval)}) + KeepAliveTimeout ({Format(pong)})", interval + pong, interval, CountedBehindProxy: true));
        }
        if (services.GetService<IServiceProviderIsService>()?.IsService(typeof(IHubProtocolResolver)) == true &&
            services.GetService<IOptions<HubOptions>>()?.Value is { } hub)
        {
            var clientTimeout = hub.ClientTimeoutInterval ?? TimeSpan.FromSeconds(30); // SignalR's defaults (HubOptionsSetup)
            var keepAlive = hub.KeepAliveInterval ?? TimeSpan.FromSeconds(15);
            timers.Add(new(ApplicationTimerKind.SignalR,
                $"SignalR's HubOptions.ClientTimeoutInterval ({Format(clientTimeout)}, then the WebSockets transport's {Format(SignalRCloseTimeout)} CloseTimeout)",
                clientTimeout + SignalRCloseTimeout, keepAlive, CountedBehindProxy: true));
        }
        return new ApplicationTimers([.. timers.OrderBy(t => t.EndsAfter)]);
    }

    private static string Format(TimeSpan value) => KeepAliveBounds.Format(value);
}

/// <summary>The kinds of <see cref="ApplicationTimer"/>.</summary>
internal enum ApplicationTimerKind
{
    Http2Ping,
    WebSocketPing,
    SignalR,
}

/// <summary>One timer above TCP that ends a connection whose peer went silent.</summary>
/// <param name="Kind">Which.</param>
/// <param name="Setting">The settings it comes from, with their values, as the warnings name them.</param>
/// <param name="EndsAfter">From the peer's last sign of life to the end of its connection.</param>
/// <param name="SendsEvery">How often it sends something (a ping) the peer must answer: TCP's own clock starts at that send.</param>
/// <param name="CountedBehindProxy">Whether its pings cross a proxy end to end (WebSocket frames do, HTTP/2 PING frames are hop by hop).</param>
internal sealed record ApplicationTimer(ApplicationTimerKind Kind, string Setting, TimeSpan EndsAfter, TimeSpan SendsEvery, bool CountedBehindProxy)
{
    /// <summary>The cause its losses are counted under behind a proxy, or <see langword="null"/> where they cannot be told apart.</summary>
    public string? BehindProxyCause => CountedBehindProxy ? LostConnectionCause.AppPingTimeout.ToErrorType() : null;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Setting}: {KeepAliveBounds.Format(EndsAfter)}");
}
