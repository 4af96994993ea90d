namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// <c>keepalive.lost_connection.silence</c> as dashboards read it: the quantile Prometheus' <c>histogram_quantile</c>
/// interpolates in a bucket, and the bucket's upper bound Aspire's dashboard shows, must be within 10 % of the silences
/// recorded, for the library's default policy, every preset and the sample's policy. A lost peer's silence is its bound
/// plus a little (measured: a keepalive verdict 0 to 50 ms after it, a user timeout's 0.2 to 0.6 s after it), so buckets
/// whose boundaries sit on the bounds put it in the bucket above, as wide as the next bound.
/// </summary>
public class SilenceHistogramTests
{
    private static readonly double[] Quantiles = [0.5, 0.9, 0.99];

    public static TheoryData<string> Policies => new(["default", "sample-streaming", .. KeepAlivePresets.Names]);

    [Theory]
    [MemberData(nameof(Policies))]
    public void A_dashboards_quantiles_of_the_silences_are_within_10_percent(string policy)
    {
        var bounds = KeepAliveBounds.For(Options(policy), TcpKernelSettings.Default);
        var boundaries = KeepAliveMetrics.SilenceBoundaries(ExpectedSilences(bounds));

        // 50 lost idle peers (keepalive), and 50 peers lost while the server wrote (user timeout).
        var keepAlive = Spread(bounds.SilentIdlePeer!.Value.TotalSeconds, 0, 0.05);
        var userTimeout = Spread(bounds.UnacknowledgedData.TotalSeconds, 0.2, 0.6);
        foreach (var (what, silences) in new[] { ("keepalive_timeout", keepAlive), ("user_timeout", userTimeout) })
        {
            foreach (var q in Quantiles)
            {
                var exact = Quantile(silences, q);
                var prometheus = PrometheusQuantile(boundaries, silences, q);
                var aspire = BucketUpperBound(boundaries, silences, q);
                Assert.True(Math.Abs(prometheus - exact) <= 0.1 * exact, $"{policy} {what} p{q * 100}: Prometheus reads {prometheus:F3} s for {exact:F3} s.");
                Assert.True(Math.Abs(aspire - exact) <= 0.1 * exact, $"{policy} {what} p{q * 100}: the bucket's upper bound is {aspire:F3} s for {exact:F3} s.");
            }
        }
    }

    [Fact]
    public void The_old_boundaries_on_the_bounds_were_far_off()
    {
        // What issue 18 measured: 120 s on a boundary, every silence a little above it: p50 read about 210 s.
        double[] onTheBounds = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 10800];
        var silences = Spread(120, 0.2, 0.6);
        Assert.True(PrometheusQuantile(onTheBounds, silences, 0.5) > 200);
    }

    [Fact]
    public void The_boundaries_ascend_without_repeats_and_keep_the_coarse_scale()
    {
        var boundaries = KeepAliveMetrics.SilenceBoundaries([TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(30)]);
        Assert.Equal(boundaries.Order().Distinct(), boundaries);
        Assert.Contains(10800, boundaries); // the kernel's default 2 h 11 min still has a bucket
        Assert.Contains(126, boundaries); // 2 min + 5 %
    }

    private static IEnumerable<TimeSpan> ExpectedSilences(KeepAliveBounds bounds) =>
        new[] { bounds.SilentIdlePeer, bounds.UnacknowledgedData, bounds.StalledReader }.OfType<TimeSpan>();

    private static KeepAliveOptions Options(string policy)
    {
        if (policy == "default")
            return new KeepAliveOptions();
        var options = new KeepAliveOptions();
        options.Policies[policy] = policy == "sample-streaming"
            ? new KeepAlivePolicyOptions { Idle = TimeSpan.FromSeconds(15), Interval = TimeSpan.FromSeconds(5), ProbeCount = 3 }
            : new KeepAlivePolicyOptions { Preset = policy };
        return options.Resolve(policy)!;
    }

    // n silences from bound + low to bound + high, evenly.
    private static double[] Spread(double bound, double low, double high, int n = 50) =>
        [.. Enumerable.Range(0, n).Select(i => bound + low + (high - low) * i / (n - 1))];

    private static double Quantile(double[] values, double q)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
    }

    // histogram_quantile (promql/quantile.go): the bucket holding the rank, linear between its lower and upper bound.
    private static double PrometheusQuantile(double[] boundaries, double[] values, double q)
    {
        var rank = q * values.Length;
        var below = 0;
        var lower = 0.0;
        foreach (var upper in boundaries)
        {
            var inBucket = values.Count(v => v > lower && v <= upper);
            if (below + inBucket >= rank && inBucket > 0)
                return lower + (upper - lower) * (rank - below) / inBucket;
            below += inBucket;
            lower = upper;
        }
        return lower; // the +Inf bucket: its lower bound, as Prometheus returns
    }

    // A dashboard that shows the bucket a quantile falls in by its upper bound.
    private static double BucketUpperBound(double[] boundaries, double[] values, double q)
    {
        var rank = q * values.Length;
        var below = 0;
        var lower = 0.0;
        foreach (var upper in boundaries)
        {
            below += values.Count(v => v > lower && v <= upper);
            if (below >= rank)
                return upper;
            lower = upper;
        }
        return double.PositiveInfinity;
    }
}
