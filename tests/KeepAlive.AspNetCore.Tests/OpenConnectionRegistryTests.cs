using System.Net;
using KeepAlive.AspNetCore.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// The policies keep a list of the open connections, so a reload reaches them. A connection must leave it
/// when it closes, however it came to its policy (default, endpoint, route), or a long-running server would
/// hold every connection it ever had, sockets included, and each reload would walk them all.
/// </summary>
public class OpenConnectionRegistryTests
{
    [Fact]
    public async Task Closed_connections_are_no_longer_tracked_whatever_their_policy()
    {
        ListenOptions? streamsEndpoint = null;
        await using var app = TestHost.CreateBuilder(
            [KeyValuePair.Create("KeepAlive:Policies:streaming:Idle", (string?)"00:00:15")],
            b =>
            {
                b.UseKeepAlivePolicy();
                b.WebHost.ConfigureKestrel(k =>
                {
                    k.Listen(IPAddress.Loopback, 0);
                    k.Listen(IPAddress.Loopback, 0, listen => streamsEndpoint = listen.UseKeepAlivePolicy("streaming"));
                });
            },
            defaultEndpoint: false).Build();
        app.UseKeepAliveRoutePolicies();
        app.MapGet("/", () => "ok");
        app.MapGet("/events", () => "ok").WithKeepAlivePolicy("streaming");
        await app.StartAsync(TestContext.Current.CancellationToken);
        var policies = app.Services.GetRequiredService<KeepAlivePolicies>();
        var streamsPort = ((IPEndPoint)streamsEndpoint!.EndPoint).Port;
        var plain = new Uri(app.Urls.Select(u => new Uri(u)).Single(u => u.Port != streamsPort), "/");
        var streams = new Uri($"http://127.0.0.1:{streamsPort}/");

        var clients = new List<HttpClient>();
        try
        {
            foreach (var url in new[] { plain, new Uri(plain, "/events"), streams, new Uri(streams, "/events") })
            {
                var client = CreateClient();
                clients.Add(client);
                Assert.Equal("ok", await client.GetStringAsync(url, TestContext.Current.CancellationToken));
            }
            // Each is tracked from accept on, while it is open.
            Assert.Equal(4, policies.Open.Count);
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }

        await UntilAsync(() => policies.Open.Count == 0, () => $"{policies.Open.Count} closed connections are still tracked");
        await app.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Connections_closed_by_the_server_are_no_longer_tracked()
    {
        await using var app = TestHost.CreateBuilder(null, b => b.UseKeepAlivePolicy()).Build();
        app.MapGet("/", (HttpContext context) =>
        {
            context.Response.Headers.Connection = "close";
            return "ok";
        });
        await app.StartAsync(TestContext.Current.CancellationToken);
        var policies = app.Services.GetRequiredService<KeepAlivePolicies>();

        using var client = CreateClient();
        for (var i = 0; i < 3; i++)
            Assert.Equal("ok", await client.GetStringAsync(app.Urls.First(), TestContext.Current.CancellationToken));

        await UntilAsync(() => policies.Open.Count == 0, () => $"{policies.Open.Count} connections the server closed are still tracked");
        await app.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Stopping_the_server_leaves_no_connection_tracked()
    {
        await using var app = TestHost.CreateBuilder(null, b => b.UseKeepAlivePolicy()).Build();
        app.MapGet("/", () => "ok");
        await app.StartAsync(TestContext.Current.CancellationToken);
        var policies = app.Services.GetRequiredService<KeepAlivePolicies>();
        using var client = CreateClient();
        Assert.Equal("ok", await client.GetStringAsync(app.Urls.First(), TestContext.Current.CancellationToken));
        Assert.Equal(1, policies.Open.Count);

        // The client keeps its connection open; the server ends it on the way down.
        await app.StopAsync(TestContext.Current.CancellationToken);

        await UntilAsync(() => policies.Open.Count == 0, () => $"{policies.Open.Count} connections are still tracked after the server stopped");
    }

    private static HttpClient CreateClient() =>
        new(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(30) }) { Timeout = TimeSpan.FromSeconds(30) };

    // Kestrel ends a connection on its own threads after the peer closed it: poll, bounded.
    private static Task UntilAsync(Func<bool> condition, Func<string> failure) =>
        Eventually.HoldsAsync(condition, "no connection tracked any more", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(20), failure);
}
