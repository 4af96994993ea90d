namespace KeepAlive.AspNetCore.FunctionalTests.Faults;

/// <summary>
/// The whole pipeline an operator runs: the sample app exports through OpenTelemetry (hosting) and its
/// OTLP exporter, configured only by the standard OTEL_* variables, to a receiver over HTTP; a client
/// vanishes; the receiver gets <c>keepalive.lost_connections</c>.
/// </summary>
public class OtlpExportTests
{
    [Fact]
    public async Task The_sample_delivers_a_lost_connection_to_an_OTLP_receiver()
    {
        PrivateNetworkNamespace.Require();
        await using var receiver = await OtlpMetricsReceiver.StartAsync();
        await using var sample = await SampleProcess.StartAsync(new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "500",
            // The sample's event stream has the "streaming" policy of its appsettings.json; made fast here
            // (its UserTimeout is derived: 1 s + 1 s x 2 = 3 s).
            ["KeepAlive__Policies__streaming__Idle"] = "00:00:01",
            ["KeepAlive__Policies__streaming__Interval"] = "00:00:01",
            ["KeepAlive__Policies__streaming__ProbeCount"] = "2",
        });
        await using var client = await VanishingClient.ConnectAsync(sample.BaseAddress);
        // The sample's idle stream: nothing after its first event.
        await client.SendAndReadUntilAsync("GET /events HTTP/1.1\r\nHost: x\r\n\r\n", "data: connected");

        await client.VanishAsync();

        var lost = await Eventually.SettlesAsync(
            () => Task.FromResult(receiver.DataPoints.FirstOrDefault(p => p.Metric == "keepalive.lost_connections" && p.Value >= 1)),
            point => point is not null, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(200));

        Assert.True(lost is not null,
            $"No keepalive.lost_connections reached the receiver within 20 s. It got: " +
            $"{string.Join(", ", receiver.DataPoints.Select(p => p.Metric).Distinct())}\nThe sample wrote:\n{sample.Output}");
        Assert.Equal("{connection}", lost.Unit);
        Assert.Equal(1, lost.Value);
        Assert.Equal("tcp_keepalive_timeout", lost.Attributes["error.type"]);
        Assert.Equal("streaming", lost.Attributes["keepalive.policy"]);
        Assert.Equal("127.0.0.1", lost.Attributes["server.address"]);
        Assert.Equal(sample.BaseAddress.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), lost.Attributes["server.port"]);
        Assert.Contains(receiver.DataPoints, p => p.Metric == "keepalive.applied_connections");
        // Kestrel's own instruments travel the same way, for the dashboard's active-connections panel.
        Assert.Contains(receiver.DataPoints, p => p.Metric == "kestrel.active_connections");
    }
}
