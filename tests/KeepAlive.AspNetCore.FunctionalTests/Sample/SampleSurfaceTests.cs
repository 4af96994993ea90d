using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;

namespace KeepAlive.AspNetCore.FunctionalTests.Sample;

/// <summary>What a user of the sample meets first: its route list, its service name in telemetry, its framework timers.</summary>
public class SampleSurfaceTests
{
    [Fact]
    public async Task Root_lists_every_route_the_sample_maps()
    {
        await using var factory = new SampleAppFactory();
        await factory.StartAsync();
        using var client = factory.CreateLoopbackClient();

        var text = await client.GetStringAsync("/", TestContext.Current.CancellationToken);
        var routes = text.Split('\n').Skip(1).Select(line => line.Split(' ', 2)[0]).Where(r => r.Length > 0).ToHashSet();

        var mapped = factory.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Select(e => "/" + e.RoutePattern.RawText!.TrimStart('/')).ToHashSet();
        Assert.Equal(mapped, routes);
        Assert.Superset(new HashSet<string> { "/", "/metrics", "/events", "/ticks", "/stream", "/hub", "/ws", "/connection", "/keepalive/connections" }, routes);
    }

    [Fact]
    public async Task SignalR_and_WebSocket_timers_are_the_frameworks_defaults_when_nothing_is_configured()
    {
        await using var factory = new SampleAppFactory();
        await factory.StartAsync();
        // The hub's options as SignalR resolves them for it (HubOptions<THub>, from the app's HubOptions), against those of
        // a container that only adds SignalR: unset (null) there, which SignalR reads as its defaults (30 s, 15 s).
        var hubOptions = typeof(IOptions<>).MakeGenericType(typeof(HubOptions<>).MakeGenericType(typeof(Program).Assembly.GetType("EchoHub", throwOnError: true)!));
        using var plain = new ServiceCollection().AddLogging().AddSignalR().Services.BuildServiceProvider();
        var defaults = (HubOptions)hubOptions.GetProperty("Value")!.GetValue(plain.GetRequiredService(hubOptions))!;
        var hub = (HubOptions)hubOptions.GetProperty("Value")!.GetValue(factory.Services.GetRequiredService(hubOptions))!;

        Assert.Equal(defaults.ClientTimeoutInterval, hub.ClientTimeoutInterval);
        Assert.Equal(defaults.KeepAliveInterval, hub.KeepAliveInterval);
        // The echo's (named "echo" in the sample): AddSignalR zeroes the app-wide KeepAliveInterval, which would leave /ws without any.
        var webSockets = factory.Services.GetRequiredService<IOptionsMonitor<WebSocketOptions>>().Get("echo");
        Assert.Equal(new WebSocketOptions().KeepAliveInterval, webSockets.KeepAliveInterval);
        Assert.Equal(new WebSocketOptions().KeepAliveTimeout, webSockets.KeepAliveTimeout);
    }

    [Theory(Timeout = 60_000)]
    [InlineData(null, "KeepAlive.Sample.WebApi")]
    [InlineData("orders-api", "orders-api")]
    public async Task The_service_name_is_the_samples_own_unless_OTEL_SERVICE_NAME_says_otherwise(string? variable, string expected)
    {
        await using var receiver = await OtlpMetricsReceiver.StartAsync();
        var environment = new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "500",
        };
        if (variable is not null)
            environment["OTEL_SERVICE_NAME"] = variable;
        await using var sample = await SampleProcess.StartAsync(environment);

        await Eventually.SettlesAsync(() => receiver.ServiceNames.Count > 0, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(200));
        Assert.Equal([expected], receiver.ServiceNames);
    }
}
