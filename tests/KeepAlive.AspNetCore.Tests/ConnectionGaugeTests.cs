using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using KeepAlive.AspNetCore.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// Runs alone: its OpenTelemetry provider hears the meter of every host in the process, and once, among the hosts of
/// the tests running beside it, exported none of this test's points (a CI run under load).
/// </summary>
[CollectionDefinition(nameof(ConnectionGaugeTests), DisableParallelization = true)]
public sealed class ConnectionGaugeCollection;

/// <summary>
/// <c>keepalive.connections</c> on a real host with live loopback clients: what an OpenTelemetry pipeline exports,
/// and what a collection costs. (Vanished and stalled peers: the functional fault tests.)
/// </summary>
[Collection(nameof(ConnectionGaugeTests))]
public class ConnectionGaugeTests
{
    private const string Instrument = "keepalive.connections";
    private static readonly string[] States = ["responsive", "probing", "retransmitting", "zero_window"];

    [Fact]
    public async Task Open_connections_are_exported_by_state_and_every_state_stays_exported_at_zero_once_they_close()
    {
        var exported = new List<MetricSnapshot>();
        using var meterProvider = Sdk.CreateMeterProviderBuilder()
            .AddKeepAliveInstrumentation()
            .AddInMemoryExporter(exported)
            .Build();
        await using var app = await StartAsync();
        var (port, policies) = (Port(app), app.Services.GetRequiredService<KeepAlivePolicies>());

        var clients = await ConnectAsync(port, 3);
        await UntilAsync(() => policies.Open.Count == 3);
        var open = Export(meterProvider, exported, port);

        Assert.Equal("{connection}", open.Metric.Unit);
        Assert.Equal(MetricType.LongSumNonMonotonic, open.Metric.MetricType);
        Assert.Equal(new Dictionary<string, long> { ["responsive"] = 3, ["probing"] = 0, ["retransmitting"] = 0, ["zero_window"] = 0 }, open.ByState);
        Assert.All(open.Policies, policy => Assert.Equal("default", policy));

        clients.ForEach(c => c.Dispose());
        await UntilAsync(() => policies.Open.Count == 0);

        // Not left at 3 by a series that stopped being reported: a dashboard sees them go.
        Assert.Equal(new Dictionary<string, long> { ["responsive"] = 0, ["probing"] = 0, ["retransmitting"] = 0, ["zero_window"] = 0 },
            Export(meterProvider, exported, port).ByState);
    }

    [Theory]
    // One getsockopt per connection, and from KeepAliveConnectionGauge.NetlinkFrom (1,000) on one socket dump.
    [InlineData(10, 60)]
    [InlineData(KeepAliveConnectionGauge.NetlinkFrom, KeepAliveConnectionGauge.NetlinkFrom + 200)]
    public async Task A_collection_allocates_nothing_per_connection(int fewer, int more)
    {
        await using var app = await StartAsync();
        var (port, policies) = (Port(app), app.Services.GetRequiredService<KeepAlivePolicies>());
        var meterFactory = app.Services.GetRequiredService<IMeterFactory>();
        long observed = 0;
        using var listener = new MeterListener();
        // This host's meter only: other tests' hosts run in parallel in this process.
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == Instrument && instrument.Meter.Scope == meterFactory)
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => observed += value);
        listener.Start();

        var many = await ConnectAsync(port, more);
        await UntilAsync(() => policies.Open.Count == more);
        var allocatedForMany = AllocatedByCollection(listener, ref observed, more);
        var few = many[..fewer];
        many[fewer..].ForEach(c => c.Dispose());
        await UntilAsync(() => policies.Open.Count == fewer);
        var allocatedForFew = AllocatedByCollection(listener, ref observed, fewer);

        TestContext.Current.SendDiagnosticMessage($"one collection allocated {allocatedForMany} B over {more} connections, {allocatedForFew} B over {fewer}");
        // The same for more as for fewer (536 B here: the measurements of the four states); an object per connection
        // would be 20 B or more per connection.
        Assert.InRange(allocatedForMany - allocatedForFew, -64, 64);
        few.ForEach(c => c.Dispose());
    }

    // Bytes allocated by one collection, after two to warm up (the series, and the pool's array for this many: the
    // first collection sizes it); checks it counted them all.
    private static long AllocatedByCollection(MeterListener listener, ref long observed, int connections)
    {
        listener.RecordObservableInstruments();
        listener.RecordObservableInstruments();
        observed = 0;
        var before = GC.GetAllocatedBytesForCurrentThread();
        listener.RecordObservableInstruments();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(connections, observed);
        return allocated;
    }

    private static async Task<WebApplication> StartAsync()
    {
        var app = TestHost.CreateBuilder(null, b => b.UseKeepAlivePolicy()).Build();
        await app.StartAsync(TestContext.Current.CancellationToken);
        return app;
    }

    private static int Port(WebApplication app) =>
        new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First()).Port;

    // Clients that connect and send nothing: Kestrel holds each under the policy from accept on.
    private static async Task<List<Socket>> ConnectAsync(int port, int count)
    {
        var clients = new List<Socket>();
        for (var i = 0; i < count; i++)
        {
            var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            clients.Add(client);
            await client.ConnectAsync(IPAddress.Loopback, port, TestContext.Current.CancellationToken);
        }
        return clients;
    }

    // One export (the in-memory exporter's snapshots copy it): this port's points of the instrument, by state.
    private static (MetricSnapshot Metric, Dictionary<string, long> ByState, List<object?> Policies) Export(MeterProvider provider, List<MetricSnapshot> exported, int port)
    {
        var before = exported.Count;
        provider.ForceFlush();
        // The provider hears every host's meter of this name in the process: this export's points of this port.
        var streams = exported.Skip(before).Where(m => m.Name == Instrument).ToList();
        var points = streams.SelectMany(m => m.MetricPoints)
            .Select(p => (Tags: Tags(p), Value: p.GetSumLong()))
            .Where(p => Equals(p.Tags.GetValueOrDefault("server.port"), port))
            .ToList();
        Assert.Equal(States.Length, points.Count);
        return (streams[0], points.ToDictionary(p => (string)p.Tags["keepalive.connection.state"]!, p => p.Value), [.. points.Select(p => p.Tags["keepalive.policy"])]);
    }

    private static Dictionary<string, object?> Tags(MetricPoint point)
    {
        var tags = new Dictionary<string, object?>();
        foreach (var tag in point.Tags)
            tags[tag.Key] = tag.Value;
        return tags;
    }

    private static Task UntilAsync(Func<bool> condition) =>
        Eventually.HoldsAsync(condition, "the server reaching the expected number of open connections", TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(20));
}
