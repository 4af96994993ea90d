using System.Net;
using System.Text;
using Microsoft.AspNetCore.Hosting;

namespace KeepAlive.AspNetCore.FunctionalTests.Faults.Workloads;

/// <summary>
/// What is not a lost connection, with the real clients: clients that leave in the normal course, live clients the app
/// aborts, live clients at shutdown, and idle keep-alive connections Kestrel retires (while the one Kestrel retires from a
/// vanished client is counted, which shows the connection was looked at). Counted: nothing, and no <c>ConnectionLost</c> line.
/// </summary>
public class NothingLostTests
{
    private const int Clients = 10;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    private static readonly Dictionary<string, string?> Defaults = [];
    private static readonly Dictionary<string, string?> Short = new()
    {
        ["KeepAlive:Idle"] = "00:00:01",
        ["KeepAlive:Interval"] = "00:00:01",
        ["KeepAlive:ProbeCount"] = "10",
    };

    public static TheoryData<string> AllWorkloads => new(Enum.GetNames<Workload>());

    public static TheoryData<string> Http1Workloads => new(Enum.GetNames<Workload>().Where(w => !WorkloadServer.IsHttp2(Enum.Parse<Workload>(w))));

    [Theory]
    [MemberData(nameof(AllWorkloads))]
    public async Task Clients_that_leave_normally_are_not_counted(string workload)
    {
        await using var server = await WorkloadServer.StartAsync(Enum.Parse<Workload>(workload), Short);
        await using var crowd = await ClientCrowd.OpenAsync(server, LoopbackAddresses.Next(), Clients, every: 200);

        await crowd.LeaveAsync();

        await AssertNoneLostAsync(server);
    }

    [Theory]
    [MemberData(nameof(Http1Workloads))]
    public async Task Live_clients_the_app_aborts_are_not_counted(string workload)
    {
        // Under a short policy, so that a probe or two has gone out (and been answered) by the time the app aborts.
        await using var server = await WorkloadServer.StartAsync(Enum.Parse<Workload>(workload), Short);
        await using var crowd = await ClientCrowd.OpenAsync(server, LoopbackAddresses.Next(), Clients, every: 200);
        await Task.Delay(TimeSpan.FromSeconds(2.5), TestContext.Current.CancellationToken);

        Assert.Equal(Clients, server.Aborts.AbortAll());

        await AssertNoneLostAsync(server);
    }

    [Theory]
    [MemberData(nameof(AllWorkloads))]
    public async Task Live_clients_at_shutdown_are_not_counted(string workload)
    {
        var server = await WorkloadServer.StartAsync(Enum.Parse<Workload>(workload), Defaults);
        await using var crowd = await ClientCrowd.OpenAsync(server, LoopbackAddresses.Next(), Clients);
        var losses = server.Losses;

        await server.App.App.StopAsync(TestContext.Current.CancellationToken);

        Assert.Empty(losses.Lost);
        Assert.Equal(0, server.Logs.ConnectionLost);
        await server.DisposeAsync();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Idle_keep_alive_connections_Kestrel_retires_are_not_counted_and_one_whose_client_vanished_is(bool http2)
    {
        PrivateNetworkNamespace.Require();
        // Kestrel retires a keep-alive connection idle for 4 s (its heartbeat checks each second); the policy probes each
        // second from 1 s of silence and would give up only at 11 s. A live client answers the probes: no loss. A vanished
        // one has left probes unanswered: Kestrel's keep-alive timeout noticed it first.
        await using var server = await WorkloadServer.StartAsync(http2 ? Workload.Http2Ping : Workload.IdleEvents, Short, b =>
            b.WebHost.ConfigureKestrel(k =>
            {
                k.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(4);
                k.Limits.Http2.KeepAlivePingDelay = TimeSpan.MaxValue;
            }));
        var sockets = new ClientSockets(LoopbackAddresses.Next());
        var vanishing = new ClientSockets(LoopbackAddresses.Next());
        await using var network = new Nftables($"retire_{vanishing.Address.ToString().Replace('.', '_')}");
        try
        {
            for (var i = 0; i < Clients; i++)
            {
                await RequestAsync(sockets, server.BaseAddress, http2);
                await RequestAsync(vanishing, server.BaseAddress, http2);
            }
            await network.DropAllOfAsync(vanishing.Address);

            await AllClosedAsync(server, "Kestrel retiring every idle connection");
            await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);
            var lost = server.Losses.Lost;
            Assert.True(lost.Count == Clients && lost.All(l => l.Cause == "app_timeout"),
                $"Expected the {Clients} vanished clients counted as app_timeout, and no live one: {server.Losses.LostByCause}.");
            Assert.Equal(Clients, server.Logs.ConnectionLost);
        }
        finally
        {
            sockets.Abandon();
            vanishing.Abandon();
        }
    }

    // One request on a connection of its own, then the connection stays idle (keep-alive).
    private static async Task RequestAsync(ClientSockets sockets, Uri server, bool http2)
    {
        if (http2)
        {
            var client = new HttpClient(sockets.Handler()) { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
            (await client.GetAsync(new Uri(server, "/socket"), TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();
            return;
        }
        var stream = await sockets.ConnectAsync(new IPEndPoint(IPAddress.Parse(server.Host), server.Port), TestContext.Current.CancellationToken);
        await stream.WriteAsync("GET /socket HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray(), TestContext.Current.CancellationToken);
        var buffer = new byte[4096];
        var received = new StringBuilder();
        while (!received.ToString().Contains("}", StringComparison.Ordinal))
        {
            var read = await stream.ReadAsync(buffer, TestContext.Current.CancellationToken);
            if (read == 0)
                throw new InvalidOperationException($"The server closed the connection: '{received}'.");
            received.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }
    }

    private static async Task AssertNoneLostAsync(WorkloadServer server)
    {
        await AllClosedAsync(server, "every connection closing");
        await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);
        Assert.True(server.Losses.Lost.Count == 0, $"Counted lost: {server.Losses.LostByCause}.");
        Assert.Equal(0, server.Logs.ConnectionLost);
    }

    private static Task AllClosedAsync(WorkloadServer server, string what) =>
        Eventually.HoldsAsync(() => server.Losses.Active == 0, what, Wait, state: () => $"{server.Losses.Active} open, lost {server.Losses.LostByCause}");
}
