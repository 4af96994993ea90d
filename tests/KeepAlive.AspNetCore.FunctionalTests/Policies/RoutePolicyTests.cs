using System.Net;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.ApplicationParts;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace KeepAlive.AspNetCore.FunctionalTests.Policies;

/// <summary>
/// Per route: <c>WithKeepAlivePolicy("name")</c> and <c>[KeepAlivePolicy("name")]</c> with
/// <c>app.UseKeepAliveRoutePolicies()</c>. A request that reaches such an endpoint gives its connection the
/// policy for as long as the connection lives, over the endpoint's; other connections are not touched.
/// </summary>
public class RoutePolicyTests
{
    [Fact]
    public async Task Route_policy_applies_to_its_connection_from_that_request_on_and_to_no_other()
    {
        await using var app = await StartAsync(b => IssueConfiguration.Add(b.Configuration), a =>
            a.MapGet("/events", KernelReadBackEndpoint.WriteSocketOptionsAsync).WithKeepAlivePolicy("streaming"));
        using var client = new OneConnectionClient();

        Assert.Equal(IssueConfiguration.Default, await client.ReadAsync(app.BaseAddress));
        // The route's own handler already sees its policy on the socket.
        Assert.Equal(IssueConfiguration.Streaming, await client.ReadAsync(app.BaseAddress, "/events"));
        // And it stays: a later request on the same connection, to a route without a policy.
        Assert.Equal(IssueConfiguration.Streaming, await client.ReadAsync(app.BaseAddress));
        Assert.Equal(1, client.Connections);

        // Another connection never reached the route: the default.
        Assert.Equal(IssueConfiguration.Default, await SocketReadBack.ReadOnNewConnectionAsync(app.BaseAddress));
    }

    [Fact]
    public async Task Route_policy_overrides_the_endpoints_policy_on_that_connection_only()
    {
        var endpoints = await EndpointPolicyTests.StartCodeEndpointsAsync(
            b => IssueConfiguration.Add(b.Configuration),
            ["behind-azure-lb"],
            a =>
            {
                a.UseKeepAliveRoutePolicies();
                a.MapGet("/events", KernelReadBackEndpoint.WriteSocketOptionsAsync).WithKeepAlivePolicy("streaming");
            });
        await using var app = endpoints.App;
        var behindLoadBalancer = endpoints["behind-azure-lb"];
        using var client = new OneConnectionClient();

        Assert.Equal(IssueConfiguration.BehindAzureLoadBalancer, await client.ReadAsync(behindLoadBalancer));
        Assert.Equal(IssueConfiguration.Streaming, await client.ReadAsync(behindLoadBalancer, "/events"));
        Assert.Equal(IssueConfiguration.Streaming, await client.ReadAsync(behindLoadBalancer));
        Assert.Equal(1, client.Connections);

        // The endpoint's other connections keep its policy.
        Assert.Equal(IssueConfiguration.BehindAzureLoadBalancer, await SocketReadBack.ReadOnNewConnectionAsync(behindLoadBalancer));
    }

    [Fact]
    public async Task Later_route_policy_replaces_an_earlier_one_on_the_same_connection()
    {
        await using var app = await StartAsync(b => IssueConfiguration.Add(b.Configuration), a =>
        {
            a.MapGet("/events", KernelReadBackEndpoint.WriteSocketOptionsAsync).WithKeepAlivePolicy("streaming");
            a.MapGet("/internal", KernelReadBackEndpoint.WriteSocketOptionsAsync).WithKeepAlivePolicy("behind-azure-lb");
            // "default" names the top-level policy: a route can hand its connection back to it.
            a.MapGet("/plain", KernelReadBackEndpoint.WriteSocketOptionsAsync).WithKeepAlivePolicy("default");
        });
        using var client = new OneConnectionClient();

        Assert.Equal(IssueConfiguration.Streaming, await client.ReadAsync(app.BaseAddress, "/events"));
        Assert.Equal(IssueConfiguration.BehindAzureLoadBalancer, await client.ReadAsync(app.BaseAddress, "/internal"));
        Assert.Equal(IssueConfiguration.BehindAzureLoadBalancer, await client.ReadAsync(app.BaseAddress));
        Assert.Equal(IssueConfiguration.Default, await client.ReadAsync(app.BaseAddress, "/plain"));
        Assert.Equal(IssueConfiguration.Default, await client.ReadAsync(app.BaseAddress));
        Assert.Equal(1, client.Connections);
    }

    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task Route_policy_reaches_a_TLS_connection(string httpVersion)
    {
        // Over HTTPS the request's features are those of the TLS layer's connection: the policy must still find
        // the socket. Over HTTP/2 the streams share the connection, which gets the policy of the route.
        var version = Version.Parse(httpVersion);
        using var certificate = TestCertificate.Create();
        await using var app = await StartAsync(
            b =>
            {
                IssueConfiguration.Add(b.Configuration);
                b.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen =>
                {
                    listen.Protocols = HttpProtocols.Http1AndHttp2;
                    listen.UseHttps(certificate);
                }));
            },
            a => a.MapGet("/events", KernelReadBackEndpoint.WriteSocketOptionsAsync).WithKeepAlivePolicy("streaming"),
            defaultEndpoint: false);
        using var client = LoopbackClient.Trusting(certificate);

        Assert.Equal(IssueConfiguration.Default, await LoopbackClient.ReadServerSocketAsync(client, app.BaseAddress, version));
        Assert.Equal(IssueConfiguration.Streaming, await SocketReadBack.ReadAsync(client, app.BaseAddress, "/events", version));
        Assert.Equal(IssueConfiguration.Streaming, await LoopbackClient.ReadServerSocketAsync(client, app.BaseAddress, version));
    }

    [Fact]
    public async Task Without_UseKeepAliveRoutePolicies_a_route_policy_does_nothing()
    {
        // The metadata alone changes nothing, as documented: the middleware applies it.
        await using var app = await KestrelApp.StartAsync(
            b =>
            {
                IssueConfiguration.Add(b.Configuration);
                b.UseKeepAlivePolicy();
            },
            a => a.MapGet("/events", KernelReadBackEndpoint.WriteSocketOptionsAsync).WithKeepAlivePolicy("streaming"));

        Assert.Equal(IssueConfiguration.Default, await SocketReadBack.ReadOnNewConnectionAsync(app.BaseAddress, "/events"));
    }

    [Fact]
    public async Task Controller_and_action_attributes_apply_their_policies()
    {
        await using var app = await StartAsync(
            b =>
            {
                IssueConfiguration.Add(b.Configuration);
                // The controllers of this assembly (StreamingController below), not those of the sample it references.
                b.Services.AddControllers().ConfigureApplicationPartManager(parts =>
                {
                    parts.ApplicationParts.Clear();
                    parts.ApplicationParts.Add(new AssemblyPart(typeof(StreamingController).Assembly));
                });
            },
            a => a.MapControllers());

        // [KeepAlivePolicy("streaming")] on the controller.
        using (var client = new OneConnectionClient())
        {
            Assert.Equal(IssueConfiguration.Streaming, await client.ReadAsync(app.BaseAddress, "/policies/streaming/socket"));
            Assert.Equal(IssueConfiguration.Streaming, await client.ReadAsync(app.BaseAddress));
            Assert.Equal(1, client.Connections);
        }

        // [KeepAlivePolicy("behind-azure-lb")] on an action of that controller: the action's wins.
        Assert.Equal(IssueConfiguration.BehindAzureLoadBalancer, await SocketReadBack.ReadOnNewConnectionAsync(app.BaseAddress, "/policies/streaming/internal"));
        Assert.Equal(IssueConfiguration.Default, await SocketReadBack.ReadOnNewConnectionAsync(app.BaseAddress));
    }

    // The app of these tests: the issue's policies, routing policies on.
    private static Task<KestrelApp> StartAsync(Action<WebApplicationBuilder> configure, Action<WebApplication> map, bool defaultEndpoint = true) =>
        KestrelApp.StartAsync(
            b =>
            {
                configure(b);
                b.UseKeepAlivePolicy();
            },
            a =>
            {
                a.UseKeepAliveRoutePolicies();
                map(a);
            },
            defaultEndpoint);
}

/// <summary>A controller under a route policy, with one action under another; both answer with the kernel's values.</summary>
[KeepAlivePolicy("streaming")]
[Route("policies/streaming")]
public sealed class StreamingController : ControllerBase
{
    [HttpGet("socket")]
    public KernelSocketOptions Socket() => KernelSocketOptions.Read(HttpContext.Features.GetRequiredFeature<IConnectionSocketFeature>().Socket);

    [HttpGet("internal")]
    [KeepAlivePolicy("behind-azure-lb")]
    public KernelSocketOptions Internal() => KernelSocketOptions.Read(HttpContext.Features.GetRequiredFeature<IConnectionSocketFeature>().Socket);
}
