using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;

namespace KeepAlive.AspNetCore.FunctionalTests.Faults;

/// <summary>
/// What an operator's dashboard shows after clients vanish for real: exact counts of lost connections
/// by cause, how long the dead peers were silent, and the tags on Kestrel's own connection duration.
/// Clients that end their connections in the normal course are not counted.
/// </summary>
public class LostConnectionMetricsTests
{
    private const string Lost = "keepalive.lost_connections";
    private const string Silence = "keepalive.lost_connection.silence";
    private const string KestrelDuration = "kestrel.connection.duration";

    // Idle 1 s, interval 1 s, 2 probes: the kernel gives up 3 s after the peer's last packet.
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan KeepAliveSpan = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Wait = KeepAliveSpan + TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Vanished_idle_peers_are_counted_one_each_as_keepalive_timeout_and_normal_endings_are_not()
    {
        PrivateNetworkNamespace.Require();
        var stream = new EventStreamEndpoint();
        await using var app = await KestrelApp.StartAsync(LogSink.Kestrel(), b => ConfigurePolicy(b), stream.MapTo);
        using var lostConnections = app.Collect<long>(KeepAliveInstrumentation.MeterName, Lost);
        using var silenceHistogram = app.Collect<double>(KeepAliveInstrumentation.MeterName, Silence);
        using var kestrelDurations = app.Collect<double>(MetricCollectorExtensions.KestrelMeter, KestrelDuration);

        // Clients that end normally: a finished request, a stream closed with a FIN, a stream reset by the client.
        using (var http = new HttpClient())
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(new Uri(app.BaseAddress, "/nothing-here"), TestContext.Current.CancellationToken)).StatusCode);
        await EndStreamAsync(app.BaseAddress, reset: false);
        await EndStreamAsync(app.BaseAddress, reset: true);

        const int vanishing = 5;
        var clients = new List<VanishingClient>();
        try
        {
            for (var i = 0; i < vanishing; i++)
            {
                var client = await VanishingClient.ConnectAsync(app.BaseAddress);
                clients.Add(client);
                await client.SendAndReadUntilAsync($"GET {EventStreamEndpoint.Path} HTTP/1.1\r\nHost: x\r\n\r\n", EventStreamEndpoint.FirstEvent);
            }
            // Before any loss, each cause's series exists at zero (Prometheus' increase() would miss a first loss at 1).
            Assert.Equal(
                ["app_ping_timeout", "app_timeout", "app_zero_window", "tcp_keepalive_timeout", "tcp_probe_reset", "tcp_timeout", "tcp_unreachable", "tcp_user_timeout", "tcp_zero_window"],
                lostConnections.GetMeasurementSnapshot().Where(m => m.Value == 0).Select(m => (string)m.Tags["error.type"]!).Distinct().Order());
            Assert.Empty(lostConnections.Events());
            foreach (var client in clients)
                await client.VanishAsync();

            var lost = await lostConnections.WaitForAsync(vanishing, Wait);
            // Anything more would arrive with the last of them; give stragglers a moment to show.
            await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);

            lost = lostConnections.Events();
            Assert.Equal(vanishing, lost.Count);
            Assert.All(lost, m =>
            {
                Assert.Equal(1, m.Value);
                Assert.Equal("tcp_keepalive_timeout", m.Tags["error.type"]);
                Assert.Equal("default", m.Tags["keepalive.policy"]);
                Assert.Equal("ipv4", m.Tags["network.type"]);
                Assert.Equal("127.0.0.1", m.Tags["server.address"]);
            });

            // The silence: from the peer's last data (its request) to the close, at least Idle, at most the bound.
            var silences = silenceHistogram.GetMeasurementSnapshot();
            Assert.Equal(vanishing, silences.Count);
            Assert.All(silences, m =>
            {
                Assert.Equal("tcp_keepalive_timeout", m.Tags["error.type"]);
                Assert.InRange(m.Value, Idle.TotalSeconds, (KeepAliveSpan + TimeSpan.FromSeconds(1)).TotalSeconds);
            });
            TestContext.Current.TestOutputHelper?.WriteLine($"silences: {string.Join(", ", silences.Select(m => m.Value.ToString("F3")))} s");

            // Kestrel's own connection duration carries the policy, and the cause for the lost ones.
            var durations = await kestrelDurations.WaitForAsync(vanishing + 3, Wait);
            Assert.All(durations, m => Assert.Equal("default", m.Tags.GetValueOrDefault("keepalive.policy")));
            var tagged = durations.Where(m => Equals(m.Tags.GetValueOrDefault("error.type"), "tcp_keepalive_timeout")).ToList();
            Assert.Equal(vanishing, tagged.Count);
        }
        finally
        {
            foreach (var client in clients)
                await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_vanished_peer_with_data_in_flight_is_counted_as_user_timeout()
    {
        PrivateNetworkNamespace.Require();
        var stream = new EventStreamEndpoint(every: TimeSpan.FromMilliseconds(200));
        await using var app = await KestrelApp.StartAsync(LogSink.Kestrel(), b => ConfigurePolicy(b, userTimeout: "00:00:02"), stream.MapTo);
        using var lostConnections = app.Collect<long>(KeepAliveInstrumentation.MeterName, Lost);
        using var silenceHistogram = app.Collect<double>(KeepAliveInstrumentation.MeterName, Silence);
        await using var client = await VanishingClient.ConnectAsync(app.BaseAddress);
        await stream.OpenAsync(client);

        await client.VanishAsync();

        var lost = Assert.Single(await lostConnections.WaitForAsync(1, Wait));
        Assert.Equal("tcp_user_timeout", lost.Tags["error.type"]);
        var silence = Assert.Single(await silenceHistogram.WaitForAsync(1, Wait));
        Assert.Equal("tcp_user_timeout", silence.Tags["error.type"]);
    }

    [Fact]
    public async Task A_peer_that_answers_a_probe_with_a_reset_is_counted_as_probe_reset()
    {
        PrivateNetworkNamespace.Require();
        var stream = new EventStreamEndpoint();
        // Idle 2 s: the drop is lifted well before the first probe, which the rebooted peer answers with a reset.
        await using var app = await KestrelApp.StartAsync(LogSink.Kestrel(), b => ConfigurePolicy(b, idle: "00:00:02"), stream.MapTo);
        using var lostConnections = app.Collect<long>(KeepAliveInstrumentation.MeterName, Lost);
        await using var client = await VanishingClient.ConnectAsync(app.BaseAddress);
        var server = await stream.OpenAsync(client);

        await client.RebootAsync();
        await Deadline.WithinAsync(server.Aborted, Wait, "RequestAborted after the peer rebooted");

        var lost = Assert.Single(await lostConnections.WaitForAsync(1, Wait));
        Assert.Equal("tcp_probe_reset", lost.Tags["error.type"]);
    }

    [Fact]
    public async Task A_peer_the_network_reports_unreachable_while_data_is_in_flight_is_counted_as_unreachable()
    {
        PrivateNetworkNamespace.Require();
        // Data in flight: Linux ignores an ICMP error for a keepalive probe (its sequence number, snd_una - 1,
        // is outside the window: tcp_v4_err), so only a connection with unacknowledged data can end as
        // unreachable. The retransmissions are answered with ICMP host-unreachable; the kernel keeps that as
        // the connection's soft error and gives up with EHOSTUNREACH at the user timeout.
        var stream = new EventStreamEndpoint(every: TimeSpan.FromMilliseconds(200));
        var logs = LogSink.Kestrel();
        await using var app = await KestrelApp.StartAsync(logs, b => ConfigurePolicy(b, userTimeout: "00:00:02"), stream.MapTo);
        using var lostConnections = app.Collect<long>(KeepAliveInstrumentation.MeterName, Lost);
        await using var client = await VanishingClient.ConnectAsync(app.BaseAddress);
        var server = await stream.OpenAsync(client);

        await client.BecomeUnreachableAsync();
        await Deadline.WithinAsync(server.Aborted, Wait, "RequestAborted after the peer became unreachable");

        var lost = Assert.Single(await lostConnections.WaitForAsync(1, Wait));
        TestContext.Current.TestOutputHelper?.WriteLine($"transport saw: {logs.TransportVerdict}");
        Assert.Equal("tcp_unreachable", lost.Tags["error.type"]);
    }

    [Fact]
    public async Task A_vanished_peer_of_an_upgraded_WebSocket_connection_is_counted_as_keepalive_timeout()
    {
        PrivateNetworkNamespace.Require();
        // Upgraded: Kestrel's HTTP/1.1 loop no longer reads, the app's ReceiveAsync does. The end must take
        // the same path (abort, TCP_INFO, cause) as a plain request's.
        var endpoint = new WebSocketEndpoint();
        await using var app = await KestrelApp.StartAsync(LogSink.Kestrel(), b => ConfigurePolicy(b), endpoint.MapTo);
        using var lostConnections = app.Collect<long>(KeepAliveInstrumentation.MeterName, Lost);
        using var silenceHistogram = app.Collect<double>(KeepAliveInstrumentation.MeterName, Silence);
        await using var client = await VanishingClient.ConnectAsync(app.BaseAddress);
        // A fixed key is fine: the client never checks the server's accept value.
        await client.SendAndReadUntilAsync(
            $"GET {WebSocketEndpoint.Path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            WebSocketEndpoint.FirstMessage);
        await Deadline.WithinAsync(endpoint.Opened, TimeSpan.FromSeconds(5), "The WebSocket being accepted");

        await client.VanishAsync();

        var lost = Assert.Single(await lostConnections.WaitForAsync(1, Wait));
        Assert.Equal("tcp_keepalive_timeout", lost.Tags["error.type"]);
        var silence = Assert.Single(await silenceHistogram.WaitForAsync(1, Wait));
        Assert.InRange(silence.Value, Idle.TotalSeconds, (KeepAliveSpan + TimeSpan.FromSeconds(1)).TotalSeconds);
    }

    private static void ConfigurePolicy(WebApplicationBuilder builder, string idle = "00:00:01", string? userTimeout = null)
    {
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["KeepAlive:Idle"] = idle,
            ["KeepAlive:Interval"] = "00:00:01",
            ["KeepAlive:ProbeCount"] = "2",
            ["KeepAlive:UserTimeout"] = userTimeout,
        });
        builder.UseKeepAlivePolicy();
    }

    // Opens a stream from a fresh loopback address and ends it from the client: a FIN, or a reset
    // (SO_LINGER 0) outside any probing.
    private static async Task EndStreamAsync(Uri server, bool reset)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(LoopbackAddresses.Next(), 0));
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Parse(server.Host), server.Port), TestContext.Current.CancellationToken);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET {EventStreamEndpoint.Path} HTTP/1.1\r\nHost: x\r\n\r\n"), TestContext.Current.CancellationToken);
        var received = new StringBuilder();
        var buffer = new byte[4096];
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        while (!received.ToString().Contains(EventStreamEndpoint.FirstEvent, StringComparison.Ordinal))
            received.Append(Encoding.ASCII.GetString(buffer, 0, await socket.ReceiveAsync(buffer, timeout.Token)));
        if (reset)
            socket.LingerState = new LingerOption(true, 0);
        else
            socket.Shutdown(SocketShutdown.Both);
        socket.Close();
    }
}
