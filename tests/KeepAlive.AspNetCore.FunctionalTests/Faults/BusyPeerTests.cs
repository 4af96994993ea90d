using System.Diagnostics;
using Microsoft.AspNetCore.Builder;

namespace KeepAlive.AspNetCore.FunctionalTests.Faults;

/// <summary>
/// A stream the server keeps writing to (an event every 200 ms) whose client vanishes. Keepalive probes
/// are not sent while data is unacknowledged, so only the user timeout (TCP_USER_TIMEOUT) bounds this;
/// without it the kernel retransmits for about 15 minutes (tcp_retries2 = 15).
/// </summary>
/// <remarks>
/// The kernel starts the user-timeout clock at the first retransmission (tcp_sk->retrans_stamp), not at
/// the first unacknowledged send: on loopback that comes a tail-loss probe (~200 ms) and an RTO (~200 ms)
/// later, plus up to one write interval after the drop. Measured here: about UserTimeout + 0.6 s.
/// </remarks>
public class BusyPeerTests
{
    private static readonly TimeSpan Every = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan UserTimeout = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Bound = UserTimeout + TimeSpan.FromSeconds(1);
    // How much longer a connection without the user timeout must be seen open.
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Stream_writing_to_a_vanished_peer_is_closed_within_the_user_timeout()
    {
        PrivateNetworkNamespace.Require();
        var logs = LogSink.Kestrel();
        var stream = new EventStreamEndpoint(Every);
        await using var app = await KestrelApp.StartAsync(logs, b => UsePolicy(b, UserTimeout), stream.MapTo);
        await using var client = await VanishingClient.ConnectAsync(app.BaseAddress);
        var server = await stream.OpenAsync(client);

        var vanished = await client.VanishAsync();
        var aborted = await Deadline.WithinAsync(server.Aborted, Bound + Margin, "RequestAborted after the peer vanished");

        var elapsed = Stopwatch.GetElapsedTime(vanished, aborted);
        MeasuredTime.Report("busy stream, peer vanished -> RequestAborted", elapsed, Bound);
        Assert.True(elapsed <= Bound, $"RequestAborted fired {elapsed.TotalSeconds:F3} s after the peer vanished; the user timeout bounds it to {Bound.TotalSeconds} s.");
        // And not sooner: it was the user timeout that ended it. (Kestrel's logs cannot tell here: the
        // ETIMEDOUT is sometimes consumed by a send Kestrel does not log, and the receive then reads an
        // end of stream, logged as "received FIN".)
        Assert.True(elapsed >= UserTimeout, $"RequestAborted fired {elapsed.TotalSeconds:F3} s after the peer vanished, before the user timeout. Kestrel logged:\n{logs}");
        TestContext.Current.TestOutputHelper?.WriteLine($"transport saw: {logs.TransportVerdict}");
    }

    [Fact]
    public async Task Stream_writing_to_a_vanished_peer_stays_open_when_the_user_timeout_is_off()
    {
        PrivateNetworkNamespace.Require();
        var logs = LogSink.Kestrel();
        var stream = new EventStreamEndpoint(Every);
        // Keepalive stays on: the point is that its probes do not help while data is in flight.
        await using var app = await KestrelApp.StartAsync(logs, b => UsePolicy(b, TimeSpan.Zero), stream.MapTo);
        await using var client = await VanishingClient.ConnectAsync(app.BaseAddress);
        var server = await stream.OpenAsync(client);

        var vanished = await client.VanishAsync();
        var watched = Bound + Margin;
        await Deadline.WatchAsync(server.Aborted, vanished, watched);

        Assert.False(server.Aborted.IsCompleted, $"RequestAborted fired with the user timeout off. Kestrel logged:\n{logs}");
        var info = server.ReadTcpInfo();
        MeasuredTime.Report("busy stream, user timeout off, peer vanished -> still open after", Stopwatch.GetElapsedTime(vanished), watched);
        // Still held by the server, and retransmitting: the peer really is gone.
        Assert.Equal(TcpState.Established, info?.State);
        Assert.True(info?.TotalRetransmits > 0, $"The server never retransmitted, so the peer did not vanish: {info}.");
    }

    private static void UsePolicy(WebApplicationBuilder builder, TimeSpan userTimeout) =>
        builder.UseKeepAlivePolicy(o =>
        {
            o.Idle = TimeSpan.FromSeconds(1);
            o.Interval = TimeSpan.FromSeconds(1);
            o.ProbeCount = 2;
            o.UserTimeout = userTimeout;
        });
}
