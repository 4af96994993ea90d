using System.Net;
using KeepAlive.AspNetCore.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// The instruments as an operator's OpenTelemetry pipeline receives them: names, units, descriptions,
/// attributes and values, through the SDK's own MeterProvider and an exporter.
/// </summary>
public class KeepAliveMetricsTests
{
    [Fact]
    public async Task Applied_connections_arrive_through_OpenTelemetry_with_the_endpoint_and_policy_attributes()
    {
        var exported = new List<MetricSnapshot>();
        using var meterProvider = MeterProviderFor(exported);
        var app = TestHost.CreateBuilder(null, b => b.UseKeepAlivePolicy()).Build();
        app.MapGet("/", () => "ok");
        await app.StartAsync(TestContext.Current.CancellationToken);
        await using (app)
        {
            var address = new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First());
            // Two connections: a client per request, no connection reuse.
            for (var i = 0; i < 2; i++)
            {
                using var client = new HttpClient();
                Assert.Equal("ok", await client.GetStringAsync(address, TestContext.Current.CancellationToken));
            }

            meterProvider.ForceFlush();

            var (applied, points) = Named(exported, "keepalive.applied_connections");
            Assert.Equal("{connection}", applied.Unit);
            Assert.Equal(MetricType.LongSum, applied.MetricType);
            Assert.False(string.IsNullOrEmpty(applied.Description));
            var point = Assert.Single(AtPort(points, address.Port));
            Assert.Equal(2, point.GetSumLong());
            Assert.Equal(new Dictionary<string, object?>
            {
                ["server.address"] = "127.0.0.1",
                ["server.port"] = address.Port,
                ["network.type"] = "ipv4",
                ["keepalive.policy"] = "default",
            }, Tags(point));
        }
    }

    [Fact]
    public void Lost_connections_and_their_silence_carry_the_cause_as_error_type()
    {
        var exported = new List<MetricSnapshot>();
        using var meterProvider = MeterProviderFor(exported);
        using var meterFactory = new TestMeterFactory();
        var policy = KeepAlivePolicy.Create(KeepAlivePolicy.DefaultName, new KeepAliveOptions(), new KeepAliveMetrics(meterFactory), NullLogger.Instance);
        var endpoint = KeepAliveEndpoint.From(new IPEndPoint(IPAddress.IPv6Loopback, 18443)); // a port no other test uses
        var connection = new DefaultConnectionContext("conn-1");

        policy.ReportLost(connection, endpoint, LostConnectionCause.KeepAliveTimeout, TimeSpan.FromSeconds(75));
        policy.ReportLost(connection, endpoint, LostConnectionCause.KeepAliveTimeout, TimeSpan.FromSeconds(80));
        policy.ReportLost(connection, endpoint, LostConnectionCause.UserTimeout, TimeSpan.FromSeconds(120));
        meterProvider.ForceFlush();

        var (lost, lostPoints) = Named(exported, "keepalive.lost_connections");
        var lostHere = AtPort(lostPoints, 18443);
        Assert.Equal("{connection}", lost.Unit);
        Assert.Equal(MetricType.LongSum, lost.MetricType);
        Assert.Equal(2, Assert.Single(lostHere, p => Equals(Tags(p)["error.type"], "tcp_keepalive_timeout")).GetSumLong());
        Assert.Equal(1, Assert.Single(lostHere, p => Equals(Tags(p)["error.type"], "tcp_user_timeout")).GetSumLong());
        Assert.All(lostHere, p =>
        {
            Assert.Equal("::1", Tags(p)["server.address"]);
            Assert.Equal(18443, Tags(p)["server.port"]);
            Assert.Equal("ipv6", Tags(p)["network.type"]);
            Assert.Equal("default", Tags(p)["keepalive.policy"]);
        });

        var (silence, silencePoints) = Named(exported, "keepalive.lost_connection.silence");
        Assert.Equal("s", silence.Unit);
        Assert.Equal(MetricType.Histogram, silence.MetricType);
        var keepAlive = Assert.Single(AtPort(silencePoints, 18443), p => Equals(Tags(p)["error.type"], "tcp_keepalive_timeout"));
        Assert.Equal(2, keepAlive.GetHistogramCount());
        Assert.Equal(155, keepAlive.GetHistogramSum());
        // The advice reaches the SDK: buckets from seconds to the kernel default's 2 h 11 min.
        var bounds = new List<double>();
        foreach (var bucket in keepAlive.GetHistogramBuckets())
            bounds.Add(bucket.ExplicitBound);
        Assert.Equal([1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 10800, double.PositiveInfinity], bounds);
    }

    [Fact]
    public async Task Policy_errors_name_the_option_and_the_error()
    {
        var exported = new List<MetricSnapshot>();
        using var meterProvider = MeterProviderFor(exported);
        using var meterFactory = new TestMeterFactory();
        var policy = KeepAlivePolicy.Create(KeepAlivePolicy.DefaultName, new KeepAliveOptions(), new KeepAliveMetrics(meterFactory), NullLogger.Instance);
        // A socket closed between accept and the policy: the first option fails, the connection is still handed on.
        var pair = await LoopbackTcpPair.ConnectAsync();
        pair.Dispose();
        var connection = SocketConnection.Create(pair.Server, "conn-closed");

        policy.Accept(connection, KeepAliveEndpoint.From(new IPEndPoint(IPAddress.Loopback, 18080))); // a port no other test uses
        meterProvider.ForceFlush();

        var (errors, points) = Named(exported, "keepalive.policy_errors");
        Assert.Equal("{error}", errors.Unit);
        var point = Assert.Single(AtPort(points, 18080));
        Assert.Equal(1, point.GetSumLong());
        Assert.Equal("SO_KEEPALIVE", Tags(point)["keepalive.option"]);
        Assert.Equal("socket_closed", Tags(point)["error.type"]);
    }

    // What an app does with the OpenTelemetry SDK: AddKeepAliveInstrumentation() and an exporter. The
    // snapshot form of the in-memory exporter copies each export (the SDK reuses its Metric objects).
    private static MeterProvider MeterProviderFor(List<MetricSnapshot> exported) => Sdk.CreateMeterProviderBuilder()
        .AddKeepAliveInstrumentation()
        .AddInMemoryExporter(exported)
        .Build();

    // The provider hears every meter of this name in the process, and tests running in parallel each have
    // one (a host's IMeterFactory makes its own): the same instrument, one stream per meter. Merge them;
    // each test then picks its own points by port.
    private static (MetricSnapshot Metric, List<MetricPoint> Points) Named(List<MetricSnapshot> exported, string name)
    {
        var streams = exported.Where(m => m.Name == name).ToList();
        Assert.NotEmpty(streams);
        Assert.Single(streams.Select(m => (m.Unit, m.Description, m.MetricType)).Distinct());
        return (streams[0], [.. streams.SelectMany(m => m.MetricPoints)]);
    }

    private static List<MetricPoint> AtPort(List<MetricPoint> points, int port) =>
        [.. points.Where(p => Equals(Tags(p).GetValueOrDefault("server.port"), port))];

    private static Dictionary<string, object?> Tags(MetricPoint point)
    {
        var tags = new Dictionary<string, object?>();
        foreach (var tag in point.Tags)
            tags[tag.Key] = tag.Value;
        return tags;
    }
}
