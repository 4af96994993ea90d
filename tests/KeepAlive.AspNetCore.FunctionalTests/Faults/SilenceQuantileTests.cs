using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace KeepAlive.AspNetCore.FunctionalTests.Faults;

/// <summary>
/// The quantile a dashboard draws from <c>keepalive.lost_connection.silence</c>, computed as Prometheus'
/// <c>histogram_quantile</c> does from the buckets the OpenTelemetry SDK exports, against the silences the library
/// recorded for clients that vanished for real: within 10 %, for idle clients (the keepalive verdict) and for clients
/// being written to (the user timeout).
/// </summary>
public class SilenceQuantileTests
{
    private const int Clients = 20;
    private static readonly double[] Quantiles = [0.5, 0.9, 0.99];

    [Fact(Timeout = 120_000)]
    public async Task The_dashboards_quantiles_of_real_silences_are_within_10_percent()
    {
        PrivateNetworkNamespace.Require();
        var exported = new List<Metric>();
        using var recorder = new MetricRecorder();
        await using var server = await WorkloadServer.StartAsync(Workload.IdleEvents, new Dictionary<string, string?>
        {
            ["KeepAlive:Idle"] = "00:00:02",
            ["KeepAlive:Interval"] = "00:00:01",
            ["KeepAlive:ProbeCount"] = "2",
        }, b => b.Services.AddOpenTelemetry().WithMetrics(m => m.AddKeepAliveInstrumentation().AddInMemoryExporter(exported)));
        recorder.Port = server.BaseAddress.Port;
        await using var idle = await ClientCrowd.OpenAsync(server, LoopbackAddresses.Next(), Clients);
        await using var ticking = await ClientCrowd.OpenAsync(server, LoopbackAddresses.Next(), Clients, every: 200);
        await using var cutIdle = new Nftables($"quantile_{idle.Address.ToString().Replace('.', '_')}");
        await using var cutTicking = new Nftables($"quantile_{ticking.Address.ToString().Replace('.', '_')}");

        await cutIdle.DropAllOfAsync(idle.Address);
        await cutTicking.DropAllOfAsync(ticking.Address);
        await recorder.WaitForAsync("keepalive.lost_connection.silence", 2 * Clients, TimeSpan.FromSeconds(30));
        server.App.App.Services.GetRequiredService<MeterProvider>().ForceFlush();

        var recorded = recorder.Of("keepalive.lost_connection.silence").GroupBy(m => m.ErrorType).ToDictionary(g => g.Key!, g => g.Select(m => m.Value).ToArray());
        Assert.Equal(["tcp_keepalive_timeout", "tcp_user_timeout"], recorded.Keys.Order());
        var silence = exported.Last(m => m.Name == "keepalive.lost_connection.silence");
        foreach (ref readonly var point in silence.GetMetricPoints())
        {
            var cause = Tag(point, "error.type");
            if (Tag(point, "server.port") != server.BaseAddress.Port.ToString(System.Globalization.CultureInfo.InvariantCulture))
                continue;
            var buckets = new List<(double Upper, long Count)>();
            foreach (var bucket in point.GetHistogramBuckets())
                buckets.Add((bucket.ExplicitBound, bucket.BucketCount));
            var values = recorded[cause];
            Assert.Equal(values.Length, point.GetHistogramCount());
            foreach (var q in Quantiles)
            {
                var exact = Quantile(values, q);
                var drawn = PrometheusQuantile(buckets, q);
                TestContext.Current.TestOutputHelper?.WriteLine($"{cause} p{q * 100}: recorded {exact:F3} s, the dashboard draws {drawn:F3} s");
                Assert.True(Math.Abs(drawn - exact) <= 0.1 * exact, $"{cause} p{q * 100}: the dashboard draws {drawn:F3} s for a recorded {exact:F3} s.");
            }
        }
    }

    private static string Tag(in MetricPoint point, string key)
    {
        foreach (var tag in point.Tags)
        {
            if (tag.Key == key)
                return Convert.ToString(tag.Value, System.Globalization.CultureInfo.InvariantCulture)!;
        }
        return "";
    }

    private static double Quantile(double[] values, double q)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
    }

    // histogram_quantile (promql/quantile.go): the bucket holding the rank, linear between its lower and upper bound.
    private static double PrometheusQuantile(List<(double Upper, long Count)> buckets, double q)
    {
        var rank = q * buckets.Sum(b => b.Count);
        long below = 0;
        var lower = 0.0;
        foreach (var (upper, count) in buckets)
        {
            if (below + count >= rank && count > 0)
                return double.IsPositiveInfinity(upper) ? lower : lower + (upper - lower) * (rank - below) / count;
            below += count;
            lower = upper;
        }
        return lower;
    }
}
