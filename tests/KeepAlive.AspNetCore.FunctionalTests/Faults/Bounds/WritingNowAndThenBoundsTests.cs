using Microsoft.Extensions.DependencyInjection;

namespace KeepAlive.AspNetCore.FunctionalTests.Faults.Bounds;

/// <summary>
/// A stream written to now and then (a heartbeat) whose client vanishes: idle between writes, so keepalive's clock runs,
/// until a write just before its verdict puts data in flight and the user timeout's clock starts from that write. The
/// startup line states the worst case, the idle bound plus the user timeout from the peer's last sign of life; measured
/// with heartbeats just shorter than the idle bound, the worst case, by the silence the library records for each.
/// </summary>
public class WritingNowAndThenBoundsTests
{
    private const int Clients = 20;
    // A user timeout is met at its first retransmission timer at or past it: a retransmission timeout or so later.
    private static readonly TimeSpan Late = TimeSpan.FromSeconds(0.6);

    [Fact(Timeout = 60_000)]
    public async Task A_vanished_peer_of_a_heartbeat_stream_is_let_go_within_the_idle_bound_plus_the_user_timeout_of_its_last_sign_of_life()
    {
        PrivateNetworkNamespace.Require();
        using var recorder = new MetricRecorder();
        // Idle 2 s, Interval 1 s, ProbeCount 2: a dead idle peer 4 s, a user timeout of 4 s; heartbeats every 3.5 s.
        await using var server = await WorkloadServer.StartAsync(Workload.Heartbeat, new Dictionary<string, string?>
        {
            ["KeepAlive:Idle"] = "00:00:02",
            ["KeepAlive:Interval"] = "00:00:01",
            ["KeepAlive:ProbeCount"] = "2",
        });
        recorder.Port = server.BaseAddress.Port;
        var bound = server.App.App.Services.GetRequiredService<KeepAlivePolicies>().Default.Bounds.WritingNowAndThen!.Value;
        Assert.Equal(TimeSpan.FromSeconds(8), bound);
        await using var crowd = await ClientCrowd.OpenAsync(server, LoopbackAddresses.Next(), Clients, every: 3500);
        await using var network = new Nftables($"heartbeat_{crowd.Address.ToString().Replace('.', '_')}");

        await network.DropAllOfAsync(crowd.Address);
        var silences = await recorder.WaitForAsync("keepalive.lost_connection.silence", Clients, bound + TimeSpan.FromSeconds(15));

        var longest = TimeSpan.FromSeconds(silences.Max(s => s.Value));
        MeasuredTime.Report($"heartbeat every 3.5 s, peer vanished: its last sign of life -> let go, the longest of {Clients}", longest, bound + Late);
        Assert.All(silences, s => Assert.Contains(s.ErrorType, new[] { "tcp_user_timeout", "tcp_keepalive_timeout" }));
        Assert.True(longest <= bound + Late, $"A heartbeat stream's vanished peer was held {longest.TotalSeconds:F2} s after its last sign of life; the startup line says {bound.TotalSeconds} s.");
        // More than the plain user timeout: the heartbeat's write came after some idle time, as the bound says it can.
        Assert.True(longest > TimeSpan.FromSeconds(4) + Late, $"longest {longest.TotalSeconds:F2} s");
    }
}
