using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;

namespace KeepAlive.AspNetCore.FunctionalTests.Faults;

/// <summary>
/// An open server-sent event stream with nothing to send (the first event flushed, then silence) whose
/// client vanishes: only TCP keepalive can notice. The policy comes from configuration, as in an app.
/// </summary>
public class IdlePeerTests
{
    // Idle 1 s, interval 1 s, 2 probes: the kernel gives up 3 s after the peer's last packet.
    private static readonly TimeSpan KeepAliveSpan = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Bound = KeepAliveSpan + TimeSpan.FromSeconds(1);
    // How much longer a connection without the policy must be seen open.
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Idle_stream_to_a_vanished_peer_is_closed_within_idle_plus_probes()
    {
        PrivateNetworkNamespace.Require();
        var logs = LogSink.Kestrel();
        var stream = new EventStreamEndpoint();
        await using var app = await KestrelApp.StartAsync(logs, b => ConfigurePolicy(b, enabled: true), stream.MapTo);
        await using var client = await VanishingClient.ConnectAsync(app.BaseAddress);
        var server = await stream.OpenAsync(client);

        var vanished = await client.VanishAsync();
        var aborted = await Deadline.WithinAsync(server.Aborted, Bound + Margin, "RequestAborted after the peer vanished");

        var elapsed = Stopwatch.GetElapsedTime(vanished, aborted);
        MeasuredTime.Report("idle stream, peer vanished -> RequestAborted", elapsed, Bound);
        Assert.True(elapsed <= Bound, $"RequestAborted fired {elapsed.TotalSeconds:F3} s after the peer vanished; the policy bounds it to {Bound.TotalSeconds} s.");
        TestContext.Current.TestOutputHelper?.WriteLine($"transport saw: {logs.TransportVerdict}");
        // The kernel gave up (ETIMEDOUT), rather than the peer closing or resetting.
        Assert.True(logs.SawTimeout, $"Expected the transport to report a timeout (ETIMEDOUT). Kestrel logged:\n{logs}");
    }

    [Fact]
    public async Task Idle_stream_to_a_vanished_peer_stays_open_when_the_policy_is_disabled()
    {
        PrivateNetworkNamespace.Require();
        var logs = LogSink.Kestrel();
        var stream = new EventStreamEndpoint();
        await using var app = await KestrelApp.StartAsync(logs, b => ConfigurePolicy(b, enabled: false), stream.MapTo);
        await using var client = await VanishingClient.ConnectAsync(app.BaseAddress);
        var server = await stream.OpenAsync(client);

        var vanished = await client.VanishAsync();
        var watched = Bound + Margin;
        await Deadline.WatchAsync(server.Aborted, vanished, watched);

        Assert.False(server.Aborted.IsCompleted, $"RequestAborted fired with the policy disabled. Kestrel logged:\n{logs}");
        Assert.Equal(TcpState.Established, server.ReadTcpInfo()?.State);
        MeasuredTime.Report("idle stream, policy disabled, peer vanished -> still open after", Stopwatch.GetElapsedTime(vanished), watched);

        // The peer really is gone: one more event is never acknowledged and gets retransmitted,
        // and the server still holds the connection.
        stream.SendEvent();
        var info = await server.WhenRetransmittingAsync();
        Assert.Equal(TcpState.Established, info.State);
        Assert.False(server.Aborted.IsCompleted);
    }

    private static void ConfigurePolicy(WebApplicationBuilder builder, bool enabled)
    {
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["KeepAlive:Enabled"] = enabled ? "true" : "false",
            ["KeepAlive:Idle"] = "00:00:01",
            ["KeepAlive:Interval"] = "00:00:01",
            ["KeepAlive:ProbeCount"] = "2",
        });
        builder.UseKeepAlivePolicy();
    }
}
