using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace KeepAlive.AspNetCore.FunctionalTests.Policies;

/// <summary>
/// Reloads, accepts and route policies at once, with the windows made wide: thousands of reloads while connections
/// are accepted and routes apply their policies, and HTTP/2 streams of one connection naming different policies at once.
/// At the end every socket is read back from the kernel: each has exactly the options of the policy its source gives
/// now (never an older default, never the default over a route's policy, never a mix of two policies).
/// </summary>
public sealed class ReloadConcurrencyTests : IDisposable
{
    private const string PolicyReloaded = "PolicyReloaded";
    private readonly SettingsFile _settings = new();
    private readonly LogSink _logs = new();

    [Fact]
    public async Task Reloads_accepts_and_route_policies_at_once_leave_every_socket_with_its_policy_whole()
    {
        await using var app = await StartAsync(Settings(0), inMemory: true);
        var clients = new List<(OneConnectionClient Client, string Path)>();
        try
        {
            // Reloads as fast as the configuration can fire them (not through the file watcher, which debounces), on a
            // thread of their own, while connections are accepted and routes apply their policies.
            var configuration = (IConfigurationRoot)app.App.Configuration;
            var reloads = Task.Factory.StartNew(() =>
            {
                for (var i = 1; i <= 300; i++)
                {
                    configuration["KeepAlive:Idle"] = TimeSpan.FromSeconds(40 + i % 7).ToString("c");
                    configuration["KeepAlive:Policies:streaming:Idle"] = TimeSpan.FromSeconds(10 + i % 5).ToString("c");
                    configuration.Reload();
                }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

            // 150 clients, each a connection of its own, accepted during the storm; the route clients switch theirs to a route's
            // policy again and again while it lasts (bounded: 200 requests each).
            var work = Enumerable.Range(0, 150).Select(async i =>
            {
                await Task.Delay(i * 3, TestContext.Current.CancellationToken);
                var client = new OneConnectionClient();
                var path = (i % 3) switch { 0 => "/socket", 1 => "/streaming", _ => "/fast" };
                lock (clients)
                    clients.Add((client, path));
                for (var request = 0; request < 200 && (request < 5 || !reloads.IsCompleted); request++)
                    await client.ReadAsync(app.BaseAddress, path);
            }).ToList();
            await Task.WhenAll(work);
            await reloads;

            // Right after the storm, before anything else could repair it: every open connection has the policy its source
            // gives now (a connection accepted under an earlier default, or pushed back to it over a route's, would not),
            // and its socket has that policy's options whole.
            var policies = app.App.Services.GetRequiredService<KeepAlivePolicies>();
            using var open = OpenConnectionSnapshot.Take(policies.Open, clients.Count);
            Assert.True(open.Count >= clients.Count, $"{open.Count} open connections under a policy, {clients.Count} clients");
            foreach (var connection in open.Connections)
            {
                Assert.Same(connection.PolicySource!(), connection.Policy);
                Assert.True(connection.Policy.IsAppliedTo(connection.Socket), $"{connection.ConnectionId}: the socket lacks options of {connection.Policy.Name}: {KernelSocketOptions.Read(connection.Socket)}");
            }

            // And one more reload reaches them all, as the clients read back.
            configuration["KeepAlive:Idle"] = "00:16:40";
            configuration["KeepAlive:Policies:streaming:Idle"] = "00:00:20";
            configuration.Reload();
            foreach (var (client, path) in clients)
            {
                var expected = path switch
                {
                    "/streaming" => new KernelSocketOptions(true, 20, 5, 3, 35_000),
                    "/fast" => new KernelSocketOptions(true, 5, 2, 3, 11_000),
                    _ => new KernelSocketOptions(true, 1000, 10, 6, 1_060_000),
                };
                Assert.Equal(expected, await client.ReadAsync(app.BaseAddress)); // /socket: reads, changes nothing
                Assert.Equal(1, client.Connections);
            }
            Assert.True(_logs.KeepAliveEvents(PolicyReloaded).Count >= 200, $"Only {_logs.KeepAliveEvents(PolicyReloaded).Count} reloads ran during the storm.");
        }
        finally
        {
            foreach (var (client, _) in clients)
                client.Dispose();
        }
    }

    [Fact]
    public async Task Http2_streams_naming_two_policies_at_once_leave_one_policy_whole_on_their_connection()
    {
        await using var app = await StartAsync(Settings(0), h2c: true);
        using var client = LoopbackClient.Create();
        var streaming = new KernelSocketOptions(true, 10, 5, 3, 25_000); // Settings(0)
        var fast = new KernelSocketOptions(true, 5, 2, 3, 11_000);

        for (var round = 0; round < 20; round++)
        {
            // 40 streams on one connection at once, half naming each policy.
            await Task.WhenAll(Enumerable.Range(0, 40).Select(i =>
                SocketReadBack.ReadAsync(client, app.BaseAddress, i % 2 == 0 ? "/streaming" : "/fast", HttpVersion.Version20)));
            var read = await SocketReadBack.ReadAsync(client, app.BaseAddress, "/socket", HttpVersion.Version20);
            Assert.True(read == streaming || read == fast, $"Round {round}: the connection has a mix of two policies: {read}");
        }
        using var snapshot = OpenConnectionSnapshot.Take(app.App.Services.GetRequiredService<KeepAlivePolicies>().Open, 1);
        var open = Assert.Single(snapshot.Connections.ToArray());
        Assert.True(open.Policy.IsAppliedTo(open.Socket));
    }

    public void Dispose() => _settings.Dispose();

    // Settings n: the default's Idle is n + 40 (so each write differs), streaming and fast as the test expects.
    private static string Settings(int n) =>
        $$"""
        {
          "KeepAlive": {
            "Idle": "{{TimeSpan.FromSeconds(n == 1000 ? 1000 : 40 + n % 7):c}}", "Interval": "00:00:10", "ProbeCount": 6,
            "Policies": {
              "streaming": { "Idle": "00:00:{{(n == 1000 ? 20 : 10 + n % 5):00}}", "Interval": "00:00:05", "ProbeCount": 3 },
              "fast": { "Preset": "Aggressive" }
            }
          }
        }
        """;

    // The settings from a file (reloaded when written), or in memory (reloaded when the test says).
    private Task<KestrelApp> StartAsync(string json, bool h2c = false, bool inMemory = false)
    {
        Write(json);
        return KestrelApp.StartAsync(
            b =>
            {
                b.Logging.AddProvider(_logs);
                if (inMemory)
                    b.Configuration.AddInMemoryCollection(new ConfigurationBuilder().AddJsonFile(_settings.Path).Build().AsEnumerable());
                else
                    b.Configuration.AddJsonFile(_settings.Path, optional: false, reloadOnChange: true);
                if (h2c)
                    b.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
                b.UseKeepAlivePolicy();
            },
            a =>
            {
                a.UseKeepAliveRoutePolicies();
                a.MapGet("/streaming", KernelReadBackEndpoint.WriteSocketOptionsAsync).WithKeepAlivePolicy("streaming");
                a.MapGet("/fast", KernelReadBackEndpoint.WriteSocketOptionsAsync).WithKeepAlivePolicy("fast");
            },
            defaultEndpoint: !h2c);
    }

    private void Write(string json) => _settings.Write(json);
}
