using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace KeepAlive.AspNetCore.FunctionalTests.ReadBack;

/// <summary>
/// Who notices a vanished client first, said at startup: a timer the app configured above TCP (a WebSocket's keepalive,
/// SignalR's client timeout, Kestrel's HTTP/2 pings) that ends a silent peer's connection before the policy would is
/// warned of, per policy, with the timer, after how long, and the cause its losses are counted under. A policy that is
/// shorter, or no such timer, says nothing.
/// </summary>
public class ApplicationTimerWarningTests
{
    private const string EndsFirst = "ApplicationTimerEndsFirst";

    private static readonly Dictionary<string, string?> ShortStreaming = new()
    {
        ["KeepAlive:Policies:streaming:Idle"] = "00:00:02",
        ["KeepAlive:Policies:streaming:Interval"] = "00:00:01",
        ["KeepAlive:Policies:streaming:ProbeCount"] = "2",
    };

    [Fact]
    public async Task A_WebSocket_keepalive_shorter_than_the_policy_is_warned_of_for_that_policy_only()
    {
        var logs = new LogSink();
        await using var app = await StartAsync(logs, b => b.Services.Configure<WebSocketOptions>(o =>
        {
            o.KeepAliveInterval = TimeSpan.FromSeconds(5);
            o.KeepAliveTimeout = TimeSpan.FromSeconds(5);
        }));

        // The defaults (2 min) hear of it; "streaming" (4 s) lets a silent peer go before the WebSocket would.
        var warning = Assert.Single(logs.KeepAliveEvents(EndsFirst));
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Equal("WebSocketOptions.KeepAliveInterval (5 s) + KeepAliveTimeout (5 s)", warning.Fields["Timer"]);
        Assert.Equal("10 s", warning.Fields["EndsAfter"]);
        Assert.Equal("default", warning.Fields["Policy"]);
        Assert.Equal("2 min", warning.Fields["UserTimeout"]);
        Assert.Equal("app_timeout", warning.Fields["Cause"]);
        Assert.Equal("counted as app_ping_timeout", warning.Fields["BehindProxy"]);
        TestContext.Current.TestOutputHelper?.WriteLine(warning.Message);
    }

    [Fact]
    public async Task SignalRs_client_timeout_is_warned_of_with_its_close_timeout()
    {
        var logs = new LogSink();
        await using var app = await StartAsync(logs, b => b.Services.AddSignalR());

        var warning = Assert.Single(logs.KeepAliveEvents(EndsFirst));
        Assert.Equal("SignalR's HubOptions.ClientTimeoutInterval (30 s, then the WebSockets transport's 5 s CloseTimeout)", warning.Fields["Timer"]);
        Assert.Equal("35 s", warning.Fields["EndsAfter"]);
        Assert.Equal("default", warning.Fields["Policy"]);
    }

    [Fact]
    public async Task Kestrels_HTTP2_pings_are_warned_of_and_said_not_to_cross_a_proxy()
    {
        var logs = new LogSink();
        await using var app = await StartAsync(logs, b => b.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.Http2.KeepAlivePingDelay = TimeSpan.FromSeconds(5);
            k.Limits.Http2.KeepAlivePingTimeout = TimeSpan.FromSeconds(5);
        }));

        var warning = Assert.Single(logs.KeepAliveEvents(EndsFirst));
        Assert.Equal("Kestrel's Limits.Http2.KeepAlivePingDelay (5 s) + KeepAlivePingTimeout (5 s)", warning.Fields["Timer"]);
        Assert.Equal("not counted: its pings do not cross a proxy", warning.Fields["BehindProxy"]);
    }

    [Fact]
    public async Task Timers_longer_than_every_policy_and_no_timers_at_all_are_not_warned_of()
    {
        // SignalR's 35 s against a default policy of 10 s (5 s + 1 s x 5): TCP lets the peer go first.
        var logs = new LogSink();
        await using (await StartAsync(logs, b =>
        {
            b.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["KeepAlive:Idle"] = "00:00:05", ["KeepAlive:Interval"] = "00:00:01", ["KeepAlive:ProbeCount"] = "5" });
            b.Services.AddSignalR();
        }))
        {
            Assert.Empty(logs.KeepAliveEvents(EndsFirst));
        }

        // Nothing above TCP: no WebSocket keepalive timeout (.NET's default), no SignalR, no HTTP/2 pings (Kestrel's default).
        var none = new LogSink();
        await using (await StartAsync(none, _ => { }))
        {
            Assert.Empty(none.KeepAliveEvents(EndsFirst));
        }
    }

    private static Task<KestrelApp> StartAsync(LogSink logs, Action<WebApplicationBuilder> configure) =>
        KestrelApp.StartAsync(b =>
        {
            b.Logging.AddProvider(logs);
            b.Configuration.AddInMemoryCollection(ShortStreaming);
            configure(b);
            b.UseKeepAlivePolicy();
        });
}
