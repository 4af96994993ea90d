namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// The bounds a policy states, against what Linux did with the same settings: the dead idle peer times below were
/// measured here with plain sockets and an nftables drop (Linux 6.18), so a formula
/// that drifts from the kernel's rule fails here before a fault test has to find it.
/// </summary>
public class KeepAliveBoundsTests
{
    private static readonly TcpKernelSettings Kernel = TcpKernelSettings.Default;

    [Theory]
    // Idle, Interval, ProbeCount, UserTimeout (ms, -1 derived, 0 off) -> dead idle peer let go after (s), probes sent.
    [InlineData(1, 1, 2, 0, 3, 2)]       // measured 3.0 s
    [InlineData(1, 1, 2, 3000, 3, 2)]    // measured 3.0 s
    [InlineData(1, 1, 2, 10000, 10, 9)]  // measured 10.2 s: ProbeCount ignored
    [InlineData(1, 1, 2, 20000, 20, 19)] // measured 20.5 s
    [InlineData(2, 2, 2, 5000, 6, 2)]    // measured 5.97 s: the first firing at or past the user timeout, not the timeout itself
    [InlineData(2, 2, 2, 3000, 4, 1)]    // measured 3.96 s, 1 probe: never before the second firing
    [InlineData(2, 3, 5, 7000, 8, 2)]    // measured 8.09 s
    [InlineData(3, 2, 3, 0, 9, 3)]       // measured 8.98 s
    [InlineData(60, 10, 6, -1, 120, 6)]  // the defaults: the derived user timeout equals the span
    public void A_dead_idle_peer_is_let_go_when_the_kernels_keepalive_timer_gives_up(int idle, int interval, int probeCount, int userTimeoutMs, int seconds, int probes)
    {
        var bounds = KeepAliveBounds.For(Options(idle, interval, probeCount, userTimeoutMs), Kernel);

        Assert.Equal(TimeSpan.FromSeconds(seconds), bounds.SilentIdlePeer);
        Assert.Equal(probes, bounds.IdleProbes);
    }

    [Fact]
    public void Without_keepalive_a_dead_idle_peer_is_never_let_go()
    {
        var options = Options(1, 1, 2, 3000);
        options.Enabled = false;

        var bounds = KeepAliveBounds.For(options, Kernel);

        Assert.Null(bounds.SilentIdlePeer);
        Assert.Equal(0, bounds.IdleProbes);
        Assert.Equal(TimeSpan.FromSeconds(3), bounds.UnacknowledgedData);
        Assert.Contains("a dead idle peer is let go never (keepalive is off)", bounds.Describe());
    }

    [Fact]
    public void A_user_timeout_bounds_unacknowledged_data_and_a_stalled_reader()
    {
        var bounds = KeepAliveBounds.For(Options(60, 10, 6, 30000), Kernel);

        Assert.Equal(TimeSpan.FromSeconds(30), bounds.UnacknowledgedData);
        Assert.Equal(TimeSpan.FromSeconds(30), bounds.StalledReader);
    }

    [Fact]
    public void A_connection_written_to_now_and_then_holds_a_vanished_peer_for_the_idle_bound_plus_the_user_timeout_at_worst()
    {
        // Idle 2 s, Interval 1 s, ProbeCount 2: 4 s idle, a 4 s user timeout; a write just before the keepalive verdict
        // starts the user timeout's clock again: 8 s from the peer's last sign of life.
        Assert.Equal(TimeSpan.FromSeconds(8), KeepAliveBounds.For(Options(2, 1, 2), TcpKernelSettings.Default).WritingNowAndThen);
        // The defaults: 2 min + 2 min.
        Assert.Equal(TimeSpan.FromMinutes(4), KeepAliveBounds.For(new KeepAliveOptions(), TcpKernelSettings.Default).WritingNowAndThen);
        // Keepalive off: nothing bounds the silence between writes.
        Assert.Null(KeepAliveBounds.For(new KeepAliveOptions { Enabled = false, UserTimeout = TimeSpan.FromSeconds(5) }, TcpKernelSettings.Default).WritingNowAndThen);
    }

    [Theory]
    // tcp_retries2 -> give-up time of tcp_model_timeout with TCP_RTO_MIN 200 ms and tcp_rto_max_ms 120 s.
    [InlineData(15, 924.6)] // the default: 938 s measured here (the last backoff fires a little after the model's time)
    [InlineData(5, 12.6)]
    [InlineData(9, 204.6)]
    [InlineData(10, 324.6)]
    public void Without_a_user_timeout_unacknowledged_data_is_bounded_by_tcp_retries2(int retries2, double seconds)
    {
        var bounds = KeepAliveBounds.For(Options(60, 10, 6, 0), new TcpKernelSettings(retries2, TimeSpan.FromSeconds(120)));

        Assert.Equal(TimeSpan.FromSeconds(seconds), bounds.UnacknowledgedData);
        Assert.Equal(retries2, bounds.Retries2);
        Assert.Contains($"a peer that stops acknowledging data {KeepAliveBounds.Format(bounds.UnacknowledgedData)} or more after the first unacknowledged send (when tcp_retries2 {retries2}", bounds.Describe());
        Assert.Null(bounds.StalledReader);
        Assert.Contains("a live peer that stops reading never (TCP gives no bound without a UserTimeout)", bounds.Describe());
    }

    [Theory]
    // tcp_retries2, the connection's RTO (ms) -> when the kernel gives up, from the first unacknowledged send (s).
    [InlineData(15, 213, 937.899)] // measured 938 s on loopback
    [InlineData(3, 213, 6.603)]    // measured 6.7-6.9 s with writes every 200 ms (up to one write later)
    [InlineData(15, 300, 993.3)]    // a longer round trip: later
    public void The_connection_outlives_the_kernels_model_by_its_own_backoffs(int retries2, int rtoMilliseconds, double seconds)
    {
        var kernel = new TcpKernelSettings(retries2, TimeSpan.FromSeconds(120));

        Assert.Equal(seconds, kernel.RetransmissionGiveUpAt(TimeSpan.FromMilliseconds(rtoMilliseconds)).TotalSeconds, precision: 3);
    }

    [Fact]
    public void A_shorter_tcp_rto_max_shortens_the_retransmission_limit()
    {
        // tcp_rto_max_ms (Linux 6.15+) caps the backoff: ilog2(1000 / 200) = 2 doublings, then 1 s each.
        var kernel = new TcpKernelSettings(5, TimeSpan.FromSeconds(1));

        Assert.Equal(TimeSpan.FromSeconds(0.2 * 7 + 3 * 1), kernel.RetransmissionGiveUp);
    }

    [Fact]
    public void The_kernel_settings_are_read_from_proc()
    {
        var read = TcpKernelSettings.Read();

        Assert.Equal(int.Parse(File.ReadAllText("/proc/sys/net/ipv4/tcp_retries2").Trim()), read.Retries2);
    }

    [Theory]
    // The README's preset table, under a top level that pins a 2 min user timeout the presets must not take.
    [InlineData("AzureLoadBalancer", 240)]
    [InlineData("AwsNetworkLoadBalancer", 350)]
    [InlineData("GoogleCloudLoadBalancer", 600)]
    [InlineData("Aggressive", 11)]
    public void A_preset_keeps_its_bounds_whatever_the_top_level_says(string preset, int seconds)
    {
        var options = new KeepAliveOptions { UserTimeout = TimeSpan.FromMinutes(2), Enabled = false };
        options.Policies["p"] = new KeepAlivePolicyOptions { Preset = preset };

        var bounds = KeepAliveBounds.For(options.Resolve("p")!, Kernel);

        Assert.Equal(TimeSpan.FromSeconds(seconds), bounds.SilentIdlePeer);
        Assert.Equal(TimeSpan.FromSeconds(seconds), bounds.UnacknowledgedData);
        Assert.Equal(TimeSpan.FromSeconds(seconds), bounds.StalledReader);
    }

    [Theory]
    [InlineData(11, "11 s")]
    [InlineData(120, "2 min")]
    [InlineData(924.6, "15 min 24.6 s")]
    [InlineData(7875, "2 h 11 min 15 s")]
    [InlineData(0.5, "500 ms")]
    public void Durations_read_as_an_operator_writes_them(double seconds, string text) =>
        Assert.Equal(text, KeepAliveBounds.Format(TimeSpan.FromSeconds(seconds)));

    private static KeepAliveOptions Options(int idle, int interval, int probeCount, int userTimeoutMs = -1) => new()
    {
        Idle = TimeSpan.FromSeconds(idle),
        Interval = TimeSpan.FromSeconds(interval),
        ProbeCount = probeCount,
        UserTimeout = userTimeoutMs < 0 ? null : TimeSpan.FromMilliseconds(userTimeoutMs),
    };
}
