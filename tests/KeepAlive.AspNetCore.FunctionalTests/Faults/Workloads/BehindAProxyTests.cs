using System.Diagnostics;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection;

namespace KeepAlive.AspNetCore.FunctionalTests.Faults.Workloads;

/// <summary>
/// Behind a reverse proxy (Debian's nginx, in the test's namespace) the server's TCP peer is the proxy, which always
/// answers: TCP can no longer tell that a client vanished. A WebSocket's keepalive ping and SignalR's client timeout
/// cross the proxy end to end, and when they find the client behind it silent the loss is counted as app_ping_timeout,
/// once, by the library's defaults and whatever its policy: the kernel never would.
/// </summary>
public class BehindAProxyTests
{
    private const int Clients = 20;

    [Fact(Timeout = 120_000)]
    public async Task A_WebSocket_client_that_vanishes_behind_a_proxy_is_counted_as_app_ping_timeout() =>
        // .NET's keepalive: a PING every 5 s, its PONG awaited 5 s; its heartbeat ticks every 1.25 s.
        await VanishBehindProxyAsync(Workload.WebSocketPing, bound: TimeSpan.FromSeconds(5 + 5 + 2.5));

    [Fact(Timeout = 120_000)]
    public async Task A_SignalR_client_that_vanishes_behind_a_proxy_is_counted_as_app_ping_timeout() =>
        // A 6 s client timeout (clients ping every 2 s), then the transport's 5 s close timeout, on a one-second timer.
        await VanishBehindProxyAsync(Workload.SignalR, bound: TimeSpan.FromSeconds(6 + 5 + 1), configureHub: true);

    private static async Task VanishBehindProxyAsync(Workload workload, TimeSpan bound, bool configureHub = false)
    {
        PrivateNetworkNamespace.Require();
        Assert.True(NginxProxy.ExecutablePath is not null, "nginx is not installed (eng/test.sh installs it).");
        await using var server = await WorkloadServer.StartAsync(workload, new Dictionary<string, string?>(), b =>
        {
            if (configureHub)
                b.Services.Configure<HubOptions>(o => { o.ClientTimeoutInterval = TimeSpan.FromSeconds(6); o.KeepAliveInterval = TimeSpan.FromSeconds(2); });
        });
        await using var proxy = await NginxProxy.StartAsync(server.BaseAddress);
        var address = LoopbackAddresses.Next();
        await using var crowd = await ClientCrowd.OpenAsync(server, address, Clients, via: proxy.Address, hubKeepAlive: TimeSpan.FromSeconds(2));
        await using var network = new Nftables($"proxy_{address.ToString().Replace('.', '_')}");
        Assert.Equal(Clients, server.Losses.Active); // one upstream connection per client, from nginx

        // The clients vanish between themselves and nginx; nginx and the server go on answering each other.
        await network.DropAllOfAsync(address);
        var cut = Stopwatch.GetTimestamp();

        await Eventually.SettlesAsync(() => server.Losses.Active == 0 && server.Losses.Lost.Count >= Clients, bound + TimeSpan.FromSeconds(15), TimeSpan.FromMilliseconds(100));
        await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);

        var lost = server.Losses.Lost;
        var lastClosed = server.Losses.Closed.Count > 0 ? Stopwatch.GetElapsedTime(cut, server.Losses.Closed.Max()) : TimeSpan.MaxValue;
        MeasuredTime.Report($"{workload} behind nginx: cut -> last of {Clients} closed ({server.Losses.LostByCause})", lastClosed, bound + TimeSpan.FromSeconds(2));
        Assert.True(lost.Count == Clients && lost.All(l => l.Cause == "app_ping_timeout"),
            $"Expected {Clients} app_ping_timeout; counted {server.Losses.LostByCause}, {server.Losses.Active} still open.");
        Assert.True(lastClosed <= bound + TimeSpan.FromSeconds(2), $"The last closed {lastClosed.TotalSeconds:F1} s after the cut; the README says {bound.TotalSeconds} s.");
        Assert.Equal(Clients, server.Logs.ConnectionLost);
    }
}
