using System.Diagnostics;
using Microsoft.AspNetCore.Builder;

namespace KeepAlive.AspNetCore.FunctionalTests.Faults;

/// <summary>
/// A client whose host rebooted: its kernel forgot the connection without telling the server. The
/// server's first keepalive probe is answered with a reset, so the connection ends at once, as a reset,
/// without waiting for the remaining probes.
/// </summary>
public class RebootedPeerTests
{
    // 2 s rather than 1 s: the peer's packets must flow again before the first probe, and lifting the
    // drop runs nft, a process start, which a loaded CI machine can slow down.
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Bound = Idle + TimeSpan.FromSeconds(1);

    [Fact]
    public async Task Idle_stream_to_a_rebooted_peer_ends_with_a_reset_at_the_first_probe()
    {
        PrivateNetworkNamespace.Require();
        var logs = LogSink.Kestrel();
        var stream = new EventStreamEndpoint();
        // Timing out would take Idle + 1 s x 2 probes = 4 s, past the bound: only a reset ends it in time.
        await using var app = await KestrelApp.StartAsync(logs, b => b.UseKeepAlivePolicy(o =>
        {
            o.Idle = Idle;
            o.Interval = TimeSpan.FromSeconds(1);
            o.ProbeCount = 2;
        }), stream.MapTo);
        await using var client = await VanishingClient.ConnectAsync(app.BaseAddress);
        var server = await stream.OpenAsync(client);

        var (rebooted, lifted) = await client.RebootAsync();
        var liftedAfter = Stopwatch.GetElapsedTime(rebooted, lifted);
        Assert.True(liftedAfter < Idle, $"Lifting the drop took {liftedAfter.TotalSeconds:F3} s, past the first probe; the probe was not answered.");
        var aborted = await Deadline.WithinAsync(server.Aborted, Bound + TimeSpan.FromSeconds(10), "RequestAborted after the peer rebooted");

        var elapsed = Stopwatch.GetElapsedTime(rebooted, aborted);
        MeasuredTime.Report("idle stream, peer rebooted -> RequestAborted", elapsed, Bound);
        Assert.True(elapsed <= Bound, $"RequestAborted fired {elapsed.TotalSeconds:F3} s after the peer rebooted; the first probe is due {Idle.TotalSeconds} s after its last packet.");
        TestContext.Current.TestOutputHelper?.WriteLine($"transport saw: {logs.TransportVerdict}");
        Assert.True(logs.SawReset && !logs.SawTimeout, $"Expected the transport to report a reset (ECONNRESET). Kestrel logged:\n{logs}");
    }
}
