using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace KeepAlive.AspNetCore.FunctionalTests.Faults;

/// <summary>
/// An outage of 2,000 clients that idled 15 s before they vanished (their kernels answering the probes meanwhile):
/// the silence recorded for each is the time from its last sign of life (the last answered probe) to the verdict,
/// never the idling before the cut, and every cause is keepalive_timeout, none the fallback timeout (TCP_INFO read
/// in the moment between the verdict and TCP_CLOSE counts). Several rounds, since that moment is a race.
/// </summary>
[Collection(nameof(OutageTests))]
public class OutageSilenceTests
{
    private const int Clients = 2000, Rounds = 3;
    private static readonly TimeSpan IdleBeforeCut = TimeSpan.FromSeconds(15);
    // Idle 2 s, Interval 1 s, ProbeCount 2.
    private static readonly TimeSpan KeepAliveSpan = TimeSpan.FromSeconds(4);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact(Timeout = 300_000)]
    public async Task The_silence_of_each_lost_client_is_counted_from_its_last_answered_probe_and_every_cause_is_read()
    {
        PrivateNetworkNamespace.Require();
        var cancellationToken = TestContext.Current.CancellationToken;
        using var tally = new ConnectionTally();
        using var metrics = new MetricRecorder();
        var streams = new SubscriberStreams();
        await using var app = await KestrelApp.StartAsync(b =>
        {
            b.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
            b.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["KeepAlive:Idle"] = "00:00:02",
                ["KeepAlive:Interval"] = "00:00:01",
                ["KeepAlive:ProbeCount"] = "2",
            });
            b.UseKeepAlivePolicy();
        }, streams.MapTo);
        tally.Port = metrics.Port = app.BaseAddress.Port;
        var server = new IPEndPoint(IPAddress.Parse(app.BaseAddress.Host), app.BaseAddress.Port);
        var bound = app.App.Services.GetRequiredService<KeepAlivePolicies>().Default.Bounds.SilentIdlePeer!.Value;
        Assert.Equal(KeepAliveSpan, bound);

        for (var round = 1; round <= Rounds; round++)
        {
            var address = LoopbackAddresses.Next();
            var subscribers = streams.From(address);
            await using var network = new Nftables($"silence_{round}");
            var clients = await EventStreamClients.OpenAsync(server, address, Clients, cancellationToken);
            try
            {
                await tally.WaitUntilAsync(_ => subscribers.Opened == Clients, Wait, "the streams reaching the app", cancellationToken);
                await Task.Delay(IdleBeforeCut, cancellationToken); // idle, probed and answering
                await network.DropIncomingToAsync(address);
                var lostBefore = (round - 1) * Clients;
                await tally.WaitUntilAsync(t => t.Lost >= lostBefore + Clients && subscribers.Aborted == Clients, Wait,
                    $"round {round}: every cut-off stream lost", cancellationToken);
            }
            finally
            {
                clients.Abandon();
                await network.LiftAsync();
            }

            var silences = metrics.Of("keepalive.lost_connection.silence").Select(m => m.Value).ToList();
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"round {round}: {silences.Count} silences so far, {silences.Min():F3} to {silences.Max():F3} s; causes {tally.LostByCause}");
            Assert.Equal(round * Clients, tally.Lost);
            Assert.Equal(round * Clients, tally.LostWith("tcp_keepalive_timeout"));
            Assert.Equal(round * Clients, silences.Count);
            Assert.All(silences, s => Assert.InRange(s, 0, (KeepAliveSpan + TimeSpan.FromSeconds(1)).TotalSeconds));
        }
    }
}
