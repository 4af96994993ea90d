namespace KeepAlive.AspNetCore.FunctionalTests.Faults.Bounds;

/// <summary>Runs alone: it changes net.ipv4.tcp_retries2 for the whole (private) network namespace while it runs.</summary>
[CollectionDefinition(nameof(RetransmissionLimitBoundsTests), DisableParallelization = true)]
public sealed class RetransmissionLimitCollection;

/// <summary>
/// <c>UserTimeout: 00:00:00</c> (off): a dead idle peer is let go by keepalive alone, after Idle + Interval x ProbeCount;
/// a dead peer being written to only when the kernel's retransmissions give up, after tcp_retries2 backoffs. The
/// library reads tcp_retries2 from /proc to state that bound; with the default 15 it is about 15 min, so the test sets
/// 3 (the kernel's model: 200 ms x 15 = 3 s) in its own network namespace, as an operator could with sysctl. The real
/// backoffs start from the connection's retransmission timeout, a little over 200 ms on loopback: a few; 5 gave 13.6 s
/// for the model's 12.6 s.
/// </summary>
[Collection(nameof(RetransmissionLimitBoundsTests))]
public class RetransmissionLimitBoundsTests
{
    private const string Retries2 = "/proc/sys/net/ipv4/tcp_retries2";

    [Fact]
    public async Task Without_a_user_timeout_the_busy_dead_peer_is_let_go_when_tcp_retries2_says()
    {
        PrivateNetworkNamespace.Require();
        var saved = File.ReadAllText(Retries2);
        File.WriteAllText(Retries2, "3");
        try
        {
            await StatedBounds.MeasureAsync(b => b.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["KeepAlive:Idle"] = "00:00:02",
                ["KeepAlive:Interval"] = "00:00:01",
                ["KeepAlive:ProbeCount"] = "2",
                ["KeepAlive:UserTimeout"] = "00:00:00",
            }));
        }
        finally
        {
            File.WriteAllText(Retries2, saved);
        }
    }
}
