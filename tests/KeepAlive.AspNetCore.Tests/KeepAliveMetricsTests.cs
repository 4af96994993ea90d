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
        var exporter = new CollectingMetricExporter();
        using var meterProvider = MeterProviderFor(exporter);
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

            var applied = Named(exporter, "keepalive.applied_connections");
            Assert.Equal("{connection}", applied.Unit);
            Assert.Equal(MetricType.LongSum, applied.Type);
            Assert.False(string.IsNullOrEmpty(applied.Description));
            var point = Assert.Single(applied.Points, p => Equals(p.Tags.GetValueOrDefault("server.port"), address.Port));
            Assert.Equal(2, point.Sum);
            Assert.Equal(new Dictionary<string, object?>
            {
                ["server.address"] = "127.0.0.1",
                ["server.port"] = address.Port,
                ["network.type"] = "ipv4",
                ["keepalive.policy"] = "default",
            }, point.Tags);
        }
    }

    [Fact]
    public void Lost_connections_and_their_silence_carry_the_cause_as_error_type()
    {
        var exporter = new CollectingMetricExporter();
        using var meterProvider = MeterProviderFor(exporter);
        using var meterFactory = new TestMeterFactory();
        var policy = KeepAlivePolicy.Create(KeepAlivePolicy.DefaultName, new KeepAliveOptions(), new KeepAliveMetrics(meterFactory), NullLogger.Instance);
        var endpoint = KeepAliveEndpoint.From(new IPEndPoint(IPAddress.IPv6Loopback, 18443)); // a port no other test uses
        var connection = new DefaultConnectionContext("conn-1");

        policy.ReportLost(connection, endpoint, LostConnectionCause.KeepAliveTimeout, TimeSpan.FromSeconds(75));
        policy.ReportLost(connection, endpoint, LostConnectionCause.KeepAliveTimeout, TimeSpan.FromSeconds(80));
        policy.ReportLost(connection, endpoint, LostConnectionCause.UserTimeout, TimeSpan.FromSeconds(120));
        meterProvider.ForceFlush();

        var lost = Named(exporter, "keepalive.lost_connections") is var metric
            ? metric with { Points = [.. metric.Points.Where(p => Equals(p.Tags.GetValueOrDefault("server.port"), 18443))] }
            : null!;
        Assert.Equal("{connection}", lost.Unit);
        Assert.Equal(MetricType.LongSum, lost.Type);
        Assert.Equal(2, Assert.Single(lost.Points, p => Equals(p.Tags["error.type"], "keepalive_timeout")).Sum);
        Assert.Equal(1, Assert.Single(lost.Points, p => Equals(p.Tags["error.type"], "user_timeout")).Sum);
        Assert.All(lost.Points, p =>
        {
            Assert.Equal("::1", p.Tags["server.address"]);
            Assert.Equal(18443, p.Tags["server.port"]);
            Assert.Equal("ipv6", p.Tags["network.type"]);
            Assert.Equal("default", p.Tags["keepalive.policy"]);
        });

        var silence = Named(exporter, "keepalive.lost_connection.silence");
        Assert.Equal("s", silence.Unit);
        Assert.Equal(MetricType.Histogram, silence.Type);
        var keepAlive = Assert.Single(silence.Points, p => Equals(p.Tags["error.type"], "keepalive_timeout") && Equals(p.Tags.GetValueOrDefault("server.port"), 18443));
        Assert.Equal(2, keepAlive.Count);
        Assert.Equal(155, keepAlive.Sum);
        // The advice reaches the SDK: buckets from seconds to the kernel default's 2 h 11 min.
        Assert.Equal([1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 10800, double.PositiveInfinity], keepAlive.BucketBounds);
    }

    [Fact]
    public async Task Policy_errors_name_the_option_and_the_error()
    {
        var exporter = new CollectingMetricExporter();
        using var meterProvider = MeterProviderFor(exporter);
        using var meterFactory = new TestMeterFactory();
        var policy = KeepAlivePolicy.Create(KeepAlivePolicy.DefaultName, new KeepAliveOptions(), new KeepAliveMetrics(meterFactory), NullLogger.Instance);
        // A socket closed between accept and the policy: the first option fails, the connection is still handed on.
        var pair = await LoopbackTcpPair.ConnectAsync();
        pair.Dispose();
        var connection = SocketConnection.Create(pair.Server, "conn-closed");

        policy.Apply(connection, KeepAliveEndpoint.From(new IPEndPoint(IPAddress.Loopback, 18080))); // a port no other test uses
        meterProvider.ForceFlush();

        var errors = Named(exporter, "keepalive.policy_errors");
        Assert.Equal("{error}", errors.Unit);
        var point = Assert.Single(errors.Points, p => Equals(p.Tags.GetValueOrDefault("server.port"), 18080));
        Assert.Equal(1, point.Sum);
        Assert.Equal("SO_KEEPALIVE", point.Tags["keepalive.option"]);
        Assert.Equal("socket_closed", point.Tags["error.type"]);
    }

    // What an app does with the OpenTelemetry SDK: AddKeepAliveInstrumentation() and an exporter.
    private static MeterProvider MeterProviderFor(CollectingMetricExporter exporter) => Sdk.CreateMeterProviderBuilder()
        .AddKeepAliveInstrumentation()
        .AddReader(new BaseExportingMetricReader(exporter))
        .Build();

    // The provider hears every meter of this name in the process, and tests running in parallel each have
    // one (a host's IMeterFactory makes its own): the same instrument, one stream per meter. Merge them;
    // each test then picks its own points by port.
    private static ExportedMetric Named(CollectingMetricExporter exporter, string name)
    {
        var streams = exporter.Metrics.Where(m => m.Name == name).ToList();
        Assert.NotEmpty(streams);
        Assert.Single(streams.Select(m => (m.Unit, m.Description, m.Type)).Distinct());
        return streams[0] with { Points = [.. streams.SelectMany(m => m.Points)] };
    }
}
