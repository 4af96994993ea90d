using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;

namespace KeepAlive.AspNetCore.FunctionalTests.Sample;

/// <summary>
/// The sample's WebSocket echo at <c>/ws</c>, with .NET's keepalive ping set from the <c>WebSockets</c> section by
/// environment variables, as an operator sets it: a real <see cref="ClientWebSocket"/> is echoed and kept open, and
/// the server's control frames, seen on a plain socket, come at the configured interval; a peer that does not answer
/// them is ended after the configured timeout.
/// </summary>
public class WebSocketEchoTests
{
    private static readonly Dictionary<string, string> OneSecondPingTwoSecondTimeout = new()
    {
        ["WebSockets__KeepAliveInterval"] = "00:00:01",
        ["WebSockets__KeepAliveTimeout"] = "00:00:02",
    };

    [Fact(Timeout = 60_000)]
    public async Task A_ClientWebSocket_is_echoed_and_stays_open_past_the_keepalive_timeout()
    {
        await using var sample = await SampleProcess.StartAsync(OneSecondPingTwoSecondTimeout);
        using var client = new ClientWebSocket();
        // The client sends no pings of its own: only its answers to the server's keep the connection.
        client.Options.KeepAliveInterval = TimeSpan.Zero;
        await client.ConnectAsync(new Uri($"ws://{sample.BaseAddress.Authority}/ws"), TestContext.Current.CancellationToken);

        Assert.Equal("hello", await EchoAsync(client, "hello"));
        // Past interval + timeout (3 s): a client that answers the server's PINGs stays connected. It answers while a
        // receive is pending (ClientWebSocket handles control frames inside ReceiveAsync), as in any app's read loop;
        // a client that does not read for longer than the timeout is ended by the server (seen here).
        var buffer = new byte[1024];
        var next = client.ReceiveAsync(buffer, TestContext.Current.CancellationToken);
        await Task.Delay(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        Assert.Equal(WebSocketState.Open, client.State);
        await client.SendAsync(Encoding.UTF8.GetBytes("still here"), WebSocketMessageType.Text, true, TestContext.Current.CancellationToken);
        var received = await next.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal("still here", Encoding.UTF8.GetString(buffer, 0, received.Count));
        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, TestContext.Current.CancellationToken);
    }

    [Fact(Timeout = 60_000)]
    public async Task The_server_pings_at_the_configured_interval_and_ends_a_peer_silent_past_the_timeout()
    {
        await using var sample = await SampleProcess.StartAsync(OneSecondPingTwoSecondTimeout);
        using var peer = await RawWebSocket.ConnectAsync(sample.BaseAddress, "/ws");
        var opened = Stopwatch.GetTimestamp();

        var (frames, endedAt) = await peer.ReadForAsync(TimeSpan.FromSeconds(10));
        var pings = frames.Where(f => f.Opcode == RawWebSocket.Ping).Select(f => Stopwatch.GetElapsedTime(opened, f.At).TotalSeconds).ToList();
        var ended = endedAt is { } at ? Stopwatch.GetElapsedTime(opened, at).TotalSeconds : (double?)null;
        TestContext.Current.TestOutputHelper?.WriteLine($"PINGs at {string.Join(", ", pings.Select(p => $"{p:F2} s"))}; ended at {ended:F2} s");

        // The first PING one interval (1 s) after the connection opened; the connection ended one timeout (2 s) later.
        Assert.NotEmpty(pings);
        Assert.InRange(pings[0], 0.8, 1.8);
        Assert.True(ended is not null, "The server kept a WebSocket whose peer never answered its PING for 10 s; the timeout is 2 s.");
        Assert.InRange(ended!.Value - pings[0], 1.8, 3.5);
        await EventuallyLoggedAsync(sample, "WebSocket to ");
    }

    [Fact(Timeout = 60_000)]
    public async Task Without_a_timeout_the_interval_alone_paces_the_servers_unsolicited_pongs()
    {
        // .NET's keepalive without KeepAliveTimeout (the default) sends an unsolicited PONG every interval and expects nothing.
        await using var sample = await SampleProcess.StartAsync(new Dictionary<string, string> { ["WebSockets__KeepAliveInterval"] = "00:00:01" });
        using var peer = await RawWebSocket.ConnectAsync(sample.BaseAddress, "/ws");
        var opened = Stopwatch.GetTimestamp();

        var (frames, endedAt) = await peer.ReadForAsync(TimeSpan.FromSeconds(4.5));
        var pongs = frames.Where(f => f.Opcode == RawWebSocket.Pong).Select(f => Stopwatch.GetElapsedTime(opened, f.At).TotalSeconds).ToList();
        TestContext.Current.TestOutputHelper?.WriteLine($"PONGs at {string.Join(", ", pongs.Select(p => $"{p:F2} s"))}");

        Assert.Null(endedAt);
        Assert.InRange(pongs.Count, 3, 5);
        Assert.All(pongs.Zip(pongs.Skip(1), (a, b) => b - a), gap => Assert.InRange(gap, 0.7, 1.5));
    }

    private static async Task<string> EchoAsync(ClientWebSocket client, string message)
    {
        await client.SendAsync(Encoding.UTF8.GetBytes(message), WebSocketMessageType.Text, true, TestContext.Current.CancellationToken);
        var buffer = new byte[1024];
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        var received = await client.ReceiveAsync(buffer, timeout.Token);
        return Encoding.UTF8.GetString(buffer, 0, received.Count);
    }

    internal static Task EventuallyLoggedAsync(SampleProcess sample, string text) =>
        Eventually.HoldsAsync(() => sample.Output.Contains(text, StringComparison.Ordinal), $"the sample logging '{text}'",
            TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(100), () => $"It wrote:\n{sample.Output}");
}
