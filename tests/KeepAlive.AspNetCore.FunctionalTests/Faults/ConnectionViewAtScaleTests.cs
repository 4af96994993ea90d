using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;

namespace KeepAlive.AspNetCore.FunctionalTests.Faults;

/// <summary>
/// The connection view over more connections than the gauge reads one by one (1,000): its states from one socket
/// dump, TCP_INFO for the rows it shows only, the worst first within its limit. 1,100 live clients hold streams and
/// 5 vanish: asked for 5, it shows those 5 probing, and says how many it left out.
/// </summary>
public class ConnectionViewAtScaleTests
{
    private const int Live = 1100, Vanishing = 5;

    [Fact(Timeout = 120_000)]
    public async Task Over_many_connections_the_view_shows_the_worst_within_its_limit()
    {
        PrivateNetworkNamespace.Require();
        var streams = new SubscriberStreams();
        await using var app = await KestrelApp.StartAsync(b =>
        {
            // Idle 2 s, Interval 2 s, ProbeCount 3: the vanished clients are probing from 2 s to 8 s after the cut.
            b.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["KeepAlive:Idle"] = "00:00:02", ["KeepAlive:Interval"] = "00:00:02", ["KeepAlive:ProbeCount"] = "3" });
            b.UseKeepAlivePolicy();
        }, a =>
        {
            streams.MapTo(a);
            a.MapKeepAliveConnections("/connections");
        });
        var server = new IPEndPoint(IPAddress.Parse(app.BaseAddress.Host), app.BaseAddress.Port);
        var vanishingAddress = LoopbackAddresses.Next();
        using var live = await EventStreamClients.OpenAsync(server, LoopbackAddresses.Next(), Live, TestContext.Current.CancellationToken);
        using var vanishing = await EventStreamClients.OpenAsync(server, vanishingAddress, Vanishing, TestContext.Current.CancellationToken);
        await using var network = new Nftables("view_scale");
        using var http = LoopbackClient.Create();

        await network.DropAllOfAsync(vanishingAddress);
        ViewDocument? view = null;
        await Eventually.HoldsAsync(async () =>
        {
            view = (await ConnectionView.ReadDocumentAsync(http, new Uri(app.BaseAddress, $"/connections?limit={Vanishing}"))).View;
            return view.Connections.All(c => c.State == "probing");
        }, "the vanished clients probing, first in the view", TimeSpan.FromSeconds(10));

        Assert.Equal(Vanishing, view!.Connections.Count);
        Assert.All(view.Connections, c => Assert.Equal(vanishingAddress, c.RemoteAddress));
        // Every stream and the view's own connection, matched; all but the five shown, left out.
        Assert.Equal(Live + Vanishing + 1, view.Count);
        Assert.Equal(Live + 1, view.Omitted);
        // Shown with what TCP_INFO says, read for them alone.
        Assert.All(view.Connections, c => Assert.True(c.Probes >= 1 && c.Silence >= 2, $"probes {c.Probes}, silence {c.Silence}"));
    }
}
