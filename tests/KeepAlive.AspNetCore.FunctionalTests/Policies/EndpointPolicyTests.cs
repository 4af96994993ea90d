using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace KeepAlive.AspNetCore.FunctionalTests.Policies;

/// <summary>
/// Named policies per endpoint: <c>KeepAlive:Endpoints</c> for the endpoints of <c>Kestrel:Endpoints</c>,
/// <c>listenOptions.UseKeepAlivePolicy("name")</c> in code. Each connection reads back the policy of the
/// endpoint it came in on; an endpoint no one names keeps the default.
/// </summary>
public class EndpointPolicyTests
{
    // Configuration endpoints all bind port 0, so the test tells them apart by address: 127.0.0.0/8 is all
    // loopback on Linux. Not 127.0.0.x: the fault tests drop packets to 127.0.0.2 and up.
    private const string StreamsHost = "127.0.3.1", InternalHost = "127.0.3.2", PublicHost = "127.0.3.3";

    [Fact]
    public async Task Each_configured_endpoint_reads_back_the_policy_KeepAlive_Endpoints_maps_it_to()
    {
        await using var app = await KestrelApp.StartAsync(b =>
        {
            IssueConfiguration.Add(b.Configuration, IssueConfiguration.Json);
            AddEndpoints(b.Configuration);
            b.UseKeepAlivePolicy();
        }, defaultEndpoint: false);

        // Every connection, not just the first: two each.
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(IssueConfiguration.Streaming, await LoopbackClient.ReadOnNewConnectionAsync(Address(app, StreamsHost)));
            Assert.Equal(IssueConfiguration.BehindAzureLoadBalancer, await LoopbackClient.ReadOnNewConnectionAsync(Address(app, InternalHost)));
            Assert.Equal(IssueConfiguration.Default, await LoopbackClient.ReadOnNewConnectionAsync(Address(app, PublicHost)));
        }
    }

    [Fact]
    public async Task Endpoint_names_match_whatever_their_case_as_Kestrel_matches_them()
    {
        // Kestrel's endpoint names are case-insensitive; "streams" in KeepAlive:Endpoints is the endpoint "Streams".
        await using var app = await KestrelApp.StartAsync(b =>
        {
            IssueConfiguration.Add(b.Configuration, IssueConfiguration.Json.Replace("\"Streams\":", "\"streams\":", StringComparison.Ordinal));
            AddEndpoints(b.Configuration);
            b.UseKeepAlivePolicy();
        }, defaultEndpoint: false);

        Assert.Equal(IssueConfiguration.Streaming, await LoopbackClient.ReadOnNewConnectionAsync(Address(app, StreamsHost)));
    }

    [Fact]
    public async Task Endpoint_the_app_also_configures_in_code_keeps_that_configuration_and_gets_its_policy()
    {
        // The documented way to finish a configuration endpoint in code: kestrel.Configure(section).Endpoint(name, ...).
        // Kestrel keeps one callback per name; the app's (here: HTTP/2 only) must not be replaced by the library's.
        var appCallbackRan = false;
        await using var app = await KestrelApp.StartAsync(b =>
        {
            IssueConfiguration.Add(b.Configuration, IssueConfiguration.Json);
            AddEndpoints(b.Configuration);
            b.UseKeepAlivePolicy();
            b.WebHost.ConfigureKestrel((context, k) => k.Configure(context.Configuration.GetSection("Kestrel"))
                .Endpoint("Streams", endpoint =>
                {
                    appCallbackRan = true;
                    endpoint.ListenOptions.Protocols = HttpProtocols.Http2;
                }));
        }, defaultEndpoint: false);

        Assert.True(appCallbackRan, "The app's Endpoint(\"Streams\", ...) callback never ran: KeepAlive:Endpoints replaced it.");
        using var client = LoopbackClient.Create();
        // HTTP/2 without TLS (prior knowledge) works only because the app's callback made the endpoint HTTP/2.
        Assert.Equal(IssueConfiguration.Streaming, await LoopbackClient.ReadServerSocketAsync(client, Address(app, StreamsHost), HttpVersion.Version20));
        Assert.Equal(IssueConfiguration.BehindAzureLoadBalancer, await LoopbackClient.ReadOnNewConnectionAsync(Address(app, InternalHost)));
    }

    [Fact]
    public async Task Connections_are_counted_as_applied_under_the_policy_of_their_endpoint()
    {
        await using var app = await KestrelApp.StartAsync(b =>
        {
            IssueConfiguration.Add(b.Configuration, IssueConfiguration.Json);
            AddEndpoints(b.Configuration);
            b.UseKeepAlivePolicy();
        }, defaultEndpoint: false);
        using var appliedConnections = app.Collect<long>(KeepAliveInstrumentation.MeterName, "keepalive.applied_connections");

        foreach (var (host, policy) in new[] { (StreamsHost, "streaming"), (PublicHost, "default") })
        {
            var address = Address(app, host);
            await LoopbackClient.ReadOnNewConnectionAsync(address);
            await LoopbackClient.ReadOnNewConnectionAsync(address);
            await appliedConnections.WaitForAsync(2, TimeSpan.FromSeconds(5));
            var applied = appliedConnections.Events(clear: true); // this endpoint's, and the next round starts at none
            Assert.All(applied, m => Assert.Equal(address.Port, m.Tags["server.port"]));
            Assert.All(applied, m => Assert.Equal(policy, m.Tags["keepalive.policy"]));
            Assert.Equal(2, applied.Sum(m => m.Value));
        }
    }

    [Fact]
    public async Task Code_endpoints_read_back_the_policy_they_name_and_an_unnamed_one_keeps_the_default()
    {
        var endpoints = await StartCodeEndpointsAsync(b => IssueConfiguration.Add(b.Configuration), ["streaming", "behind-azure-lb"]);
        await using var app = endpoints.App;

        Assert.Equal(IssueConfiguration.Streaming, await LoopbackClient.ReadOnNewConnectionAsync(endpoints["streaming"]));
        Assert.Equal(IssueConfiguration.BehindAzureLoadBalancer, await LoopbackClient.ReadOnNewConnectionAsync(endpoints["behind-azure-lb"]));
        Assert.Equal(IssueConfiguration.Default, await LoopbackClient.ReadOnNewConnectionAsync(endpoints.Unnamed));
    }

    [Fact]
    public async Task Code_endpoint_policy_names_are_case_insensitive()
    {
        var endpoints = await StartCodeEndpointsAsync(b => IssueConfiguration.Add(b.Configuration), ["STREAMING"]);
        await using var app = endpoints.App;

        Assert.Equal(IssueConfiguration.Streaming, await LoopbackClient.ReadOnNewConnectionAsync(endpoints["STREAMING"]));
    }

    [Fact]
    public async Task Named_policy_defined_in_code_reaches_its_endpoint()
    {
        // Policies can come from code as well as configuration.
        var endpoints = await StartCodeEndpointsAsync(
            b => b.UseKeepAlivePolicy(o => o.Policies["fast"] = new KeepAlivePolicyOptions { Idle = TimeSpan.FromSeconds(7), ProbeCount = 2 }),
            ["fast"]);
        await using var app = endpoints.App;

        // Interval from the default (10 s); user timeout 7 + 10 x 2 = 27 s.
        Assert.Equal(new KernelSocketOptions(true, 7, 10, 2, 27_000), await LoopbackClient.ReadOnNewConnectionAsync(endpoints["fast"]));
        Assert.Equal(new KernelSocketOptions(true, 60, 10, 6, 120_000), await LoopbackClient.ReadOnNewConnectionAsync(endpoints.Unnamed));
    }

    private static void AddEndpoints(IConfigurationBuilder configuration) =>
        configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:Streams:Url"] = $"http://{StreamsHost}:0",
            ["Kestrel:Endpoints:Internal:Url"] = $"http://{InternalHost}:0",
            ["Kestrel:Endpoints:Public:Url"] = $"http://{PublicHost}:0",
        });

    private static Uri Address(KestrelApp app, string host) => app.Addresses.Select(a => new Uri(a)).Single(a => a.Host == host);

    /// <summary>
    /// Starts an app with one code endpoint per policy name (<c>listenOptions.UseKeepAlivePolicy(name)</c>)
    /// and one that names none; <paramref name="configure"/> adds the policies and, if it wants, calls
    /// <c>UseKeepAlivePolicy</c> itself (otherwise it is called without arguments); <paramref name="configureApp"/>
    /// maps more.
    /// </summary>
    internal static async Task<CodeEndpoints> StartCodeEndpointsAsync(
        Action<WebApplicationBuilder> configure, string[] policyNames, Action<WebApplication>? configureApp = null)
    {
        var named = new Dictionary<string, ListenOptions>();
        ListenOptions? unnamed = null;
        var app = await KestrelApp.StartAsync(b =>
        {
            configure(b);
            b.UseKeepAlivePolicy(); // a second call adds nothing: the services are there once
            b.WebHost.ConfigureKestrel(k =>
            {
                foreach (var name in policyNames)
                    k.Listen(IPAddress.Loopback, 0, listen => named[name] = listen.UseKeepAlivePolicy(name));
                k.Listen(IPAddress.Loopback, 0, listen => unnamed = listen);
            });
        }, configureApp, defaultEndpoint: false);
        try
        {
            // Kestrel writes the port it bound back into each endpoint's ListenOptions.
            Assert.Equal(policyNames.Length + 1, app.Addresses.Count);
            return new CodeEndpoints(app, named.ToDictionary(p => p.Key, p => AddressOf(p.Value)), AddressOf(unnamed!));
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }

    private static Uri AddressOf(ListenOptions listen) => new($"http://127.0.0.1:{Assert.IsType<IPEndPoint>(listen.EndPoint).Port}");

    internal sealed record CodeEndpoints(KestrelApp App, IReadOnlyDictionary<string, Uri> Named, Uri Unnamed)
    {
        public Uri this[string policyName] => Named[policyName];
    }
}
