using System.Diagnostics;
using System.Net.Sockets;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;

namespace KeepAlive.AspNetCore.FunctionalTests.Faults;

/// <summary>
/// An idle WebSocket (the server waiting in ReceiveAsync) whose client vanishes. The connection was
/// upgraded, so Kestrel's HTTP/1.1 request loop is no longer reading: the end must still reach the app.
/// </summary>
public class WebSocketPeerTests
{
    // Idle 1 s, interval 1 s, 2 probes: the kernel gives up 3 s after the peer's last packet.
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(3) + TimeSpan.FromSeconds(1);

    [Fact]
    public async Task Idle_websocket_to_a_vanished_peer_fails_within_idle_plus_probes()
    {
        PrivateNetworkNamespace.Require();
        var logs = LogSink.Kestrel();
        var endpoint = new WebSocketEndpoint();
        await using var app = await KestrelApp.StartAsync(logs, b => b.UseKeepAlivePolicy(o =>
        {
            o.Idle = TimeSpan.FromSeconds(1);
            o.Interval = TimeSpan.FromSeconds(1);
            o.ProbeCount = 2;
        }), endpoint.MapTo);
        await using var client = await VanishingClient.ConnectAsync(app.BaseAddress);
        // A fixed key is fine: the client never checks the server's accept value.
        var response = await client.SendAndReadUntilAsync(
            $"GET {WebSocketEndpoint.Path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            WebSocketEndpoint.FirstMessage);
        Assert.StartsWith("HTTP/1.1 101", response, StringComparison.Ordinal);
        var server = await Deadline.WithinAsync(endpoint.Opened, TimeSpan.FromSeconds(5), "The WebSocket being accepted");

        var vanished = await client.VanishAsync();
        var (receiveEnded, error) = await Deadline.WithinAsync(endpoint.ReceiveEnded, Bound + TimeSpan.FromSeconds(10), "The server's ReceiveAsync ending after the peer vanished");
        var aborted = await Deadline.WithinAsync(server.Aborted, TimeSpan.FromSeconds(5), "RequestAborted after the receive failed");

        var receiveElapsed = Stopwatch.GetElapsedTime(vanished, receiveEnded);
        var abortedElapsed = Stopwatch.GetElapsedTime(vanished, aborted);
        MeasuredTime.Report("idle WebSocket, peer vanished -> ReceiveAsync failed", receiveElapsed, Bound);
        MeasuredTime.Report("idle WebSocket, peer vanished -> RequestAborted", abortedElapsed, Bound);
        TestContext.Current.TestOutputHelper?.WriteLine($"ReceiveAsync failed with: {error?.GetType().Name}: {error?.Message} ({error?.InnerException?.GetType().Name}: {error?.InnerException?.Message})");
        Assert.True(receiveElapsed <= Bound, $"ReceiveAsync ended {receiveElapsed.TotalSeconds:F3} s after the peer vanished; the policy bounds it to {Bound.TotalSeconds} s.");
        Assert.True(abortedElapsed <= Bound, $"RequestAborted fired {abortedElapsed.TotalSeconds:F3} s after the peer vanished; the policy bounds it to {Bound.TotalSeconds} s.");
        // It failed, with the kernel's verdict inside: a vanished peer sends no close frame.
        var failure = Assert.IsType<WebSocketException>(error);
        // The library wraps the kernel's verdict in an IOException so Kestrel does not log a stack trace
        // per connection; the SocketException is still there, one level down.
        var wrapped = Assert.IsType<IOException>(failure.InnerException);
        Assert.Equal(SocketError.TimedOut, Assert.IsType<SocketException>(wrapped.InnerException).SocketErrorCode);
        TestContext.Current.TestOutputHelper?.WriteLine($"transport saw: {logs.TransportVerdict}");
        Assert.True(logs.SawTimeout, $"Expected the transport to report a timeout (ETIMEDOUT). Kestrel logged:\n{logs}");
    }
}
