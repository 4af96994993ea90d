using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

// In the Faults namespace, though in a folder of its own: it makes peers vanish, and CI counts (and requires) the
// tests whose names hold ".Faults.".
namespace KeepAlive.AspNetCore.FunctionalTests.Faults.Dashboards;

/// <summary>
/// The sample on the real Aspire dashboard, as a .NET team watches it: the dashboard from its NuGet package, the sample
/// as it ships exporting OTLP to it (only the standard OTEL_* variables, and a short streaming policy), clients cut off
/// for real (nftables drop) or stalled, and a real headless browser reading the dashboard's metrics pages: every
/// instrument of the library with its unit and description, the open connections' <c>probing</c> state during the
/// outage (soloed with its filter, as the docs tell an operator), the lost connections counted exactly by cause; and
/// the dashboard's API: the <c>ConnectionLost</c> records in its structured logs. Screenshots of the run are saved
/// (docs/images has some; KEEPALIVE_SCREENSHOTS names the folder, else the test's output folder).
/// </summary>
public partial class AspireDashboardTests
{
    private const string Resource = "KeepAlive.Sample.WebApi";
    private const string Meter = "KeepAlive.AspNetCore";
    private const int IdleClients = 5, TickingClients = 3, StalledClients = 1;
    // The sample's "streaming" policy made short: a vanished idle client reads probing from 1 s after the cut and is
    // lost at 1 + 2 x 4 = 9 s, the user timeout (derived, 9 s) ends the ticking and the stalled ones.
    private static readonly Dictionary<string, string> Policy = new()
    {
        ["KeepAlive__Policies__streaming__Idle"] = "00:00:01",
        ["KeepAlive__Policies__streaming__Interval"] = "00:00:02",
        ["KeepAlive__Policies__streaming__ProbeCount"] = "4",
    };
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(30);

    [Fact(Timeout = 180_000)]
    public async Task The_dashboard_shows_the_instruments_the_outage_and_each_lost_connection()
    {
        PrivateNetworkNamespace.Require();
        var output = TestContext.Current.TestOutputHelper;
        var screenshots = Environment.GetEnvironmentVariable("KEEPALIVE_SCREENSHOTS") is { Length: > 0 } folder
            ? folder
            : Path.Combine(AppContext.BaseDirectory, "dashboard-screenshots");
        Directory.CreateDirectory(screenshots);
        var expectedInstruments = await LibraryInstrumentsAsync();

        await using var dashboard = await AspireDashboard.StartAsync();
        await using var sample = await SampleProcess.StartAsync(new Dictionary<string, string>(Policy)
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = dashboard.OtlpGrpcEndpoint.ToString(),
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "1000",
            ["OTEL_BLRP_SCHEDULE_DELAY"] = "500",
        });
        await using var browser = await DashboardBrowser.LaunchAsync(dashboard.Address);

        var vanishing = new List<VanishingClient>();
        var stalled = new List<Socket>();
        try
        {
            for (var i = 0; i < IdleClients + TickingClients; i++)
            {
                var client = await VanishingClient.ConnectAsync(sample.BaseAddress);
                vanishing.Add(client);
                await client.SendAndReadUntilAsync($"GET {(i < IdleClients ? "/events" : "/ticks?every=1")} HTTP/1.1\r\nHost: x\r\n\r\n", "data: connected");
            }
            for (var i = 0; i < StalledClients; i++)
                stalled.Add(await StallAsync(sample.BaseAddress));

            // The resource is the sample's default service.name.
            await EventuallyAsync(async () => (await dashboard.ResourceNamesAsync()).Contains(Resource), $"the resource {Resource} in the dashboard", dashboard, sample);

            await Task.WhenAll(vanishing.Select(c => c.VanishAsync()));
            var cut = Stopwatch.GetTimestamp();

            // During the outage: keepalive.connections is one summed area; solo probing, as the docs say, to see it.
            await browser.OpenMetricAsync(Resource, Meter, "keepalive.connections");
            await browser.ScreenshotAsync(Path.Combine(screenshots, "aspire-keepalive-connections-summed.png"));
            await browser.SoloAsync("keepalive.connection.state", "probing");
            var probing = await browser.LatestValueAsync(IdleClients, TimeSpan.FromSeconds(6));
            output?.WriteLine($"probing read {probing} at {Stopwatch.GetElapsedTime(cut).TotalSeconds:F1} s after the cut");
            await browser.ScreenshotAsync(Path.Combine(screenshots, "aspire-keepalive-connections-probing.png"));
            Assert.True(probing == IdleClients, $"The dashboard's keepalive.connections, probing soloed, read {probing?.ToString() ?? "nothing"} during the outage; {IdleClients} idle clients were cut off.");

            // Every loss reaches the sample's log first; then two more exports to the dashboard.
            await EventuallyAsync(() => Task.FromResult(LostLines(sample).Count >= IdleClients + TickingClients + StalledClients), "every cut-off or stalled client lost, in the sample's log", dashboard, sample);
            output?.WriteLine($"all lost {Stopwatch.GetElapsedTime(cut).TotalSeconds:F1} s after the cut: {string.Join(", ", LostLines(sample))}");
        }
        finally
        {
            foreach (var client in vanishing)
                await client.DisposeAsync();
            foreach (var socket in stalled)
                socket.Dispose();
        }

        var expected = new Dictionary<string, double>
        {
            [Causes.IdlePeerVanished] = IdleClients,
            [Causes.WrittenPeerVanished] = TickingClients,
            [Causes.PeerStoppedReading] = StalledClients,
        };

        // The lost connections, by cause: each cause soloed, its total read from the table.
        await browser.OpenMetricAsync(Resource, Meter, "keepalive.lost_connections");
        var causes = await browser.TagValuesAsync("error.type");
        Assert.Superset(expected.Keys.ToHashSet(), causes.ToHashSet());
        var counted = new Dictionary<string, double?>();
        foreach (var cause in causes)
        {
            await browser.SoloAsync("error.type", cause);
            counted[cause] = await browser.LatestValueAsync(expected.GetValueOrDefault(cause), TimeSpan.FromSeconds(10));
        }
        output?.WriteLine($"keepalive.lost_connections in the dashboard: {string.Join(", ", counted.Select(c => $"{c.Key} {c.Value}"))}");
        await browser.SoloAsync("error.type", Causes.IdlePeerVanished);
        await browser.ScreenshotAsync(Path.Combine(screenshots, "aspire-keepalive-lost-connections.png"));
        Assert.Equal(causes.ToDictionary(c => c, c => (double?)expected.GetValueOrDefault(c)), counted);

        // Every instrument the library has: its description, and its unit as the dashboard names it.
        await browser.OpenMetricAsync(Resource, Meter, "keepalive.applied_connections");
        var tree = await browser.TreeAsync();
        var shown = new Dictionary<string, (string Series, string Description)>();
        // keepalive.policy_errors has had no measurement (no option failed), so the dashboard has not heard of it.
        foreach (var (name, _) in expectedInstruments.Where(i => i.Key != "keepalive.policy_errors"))
        {
            Assert.Contains(name, tree);
            await browser.OpenMetricAsync(Resource, Meter, name);
            var series = await browser.SeriesAsync();
            shown[name] = (string.Join(" | ", series.Select(s => $"{s.Name}: {s.Text}")), await browser.DescriptionAsync());
            if (name == "keepalive.lost_connection.silence")
                await browser.ScreenshotAsync(Path.Combine(screenshots, "aspire-keepalive-silence.png"));
        }
        output?.WriteLine(string.Join("\n", shown.Select(s => $"{s.Key}: '{s.Value.Series}', '{s.Value.Description}'")));
        foreach (var (name, (series, description)) in shown)
        {
            Assert.Equal(expectedInstruments[name].Description, description);
            Assert.Contains(UnitAsShown(expectedInstruments[name].Unit), series, StringComparison.OrdinalIgnoreCase);
        }

        // The library's ConnectionLost records in the structured logs, one per lost connection, by cause, with the client.
        var lost = (await dashboard.LogsAsync(Resource)).Where(r => r.EventName == "ConnectionLost").ToList();
        output?.WriteLine(string.Join("\n", lost.Select(r => r.Message)));
        Assert.Equal(expected, lost.GroupBy(r => r.Attributes["Cause"]).ToDictionary(g => g.Key, g => (double)g.Count()));
        Assert.All(lost, r =>
        {
            Assert.Equal("KeepAlive.AspNetCore", r.Category);
            Assert.StartsWith("127.0.0.", r.Attributes["RemoteEndPoint"], StringComparison.Ordinal);
            Assert.NotEqual("127.0.0.1", IPEndPoint.Parse(r.Attributes["RemoteEndPoint"]).Address.ToString());
        });
        await browser.Page.GotoAsync(new Uri(dashboard.Address, $"/structuredlogs/resource/{Resource}").ToString());
        await browser.Page.GetByText("lost (", new() { Exact = false }).First.WaitForAsync();
        await browser.ScreenshotAsync(Path.Combine(screenshots, "aspire-structured-logs.png"), height: 1400);
    }

    // The instruments of the library's meter, as its code creates them (a host with the policy, listened to in this
    // process): names, units and descriptions the dashboard must show.
    private static async Task<Dictionary<string, (string Unit, string Description)>> LibraryInstrumentsAsync()
    {
        var found = new ConcurrentDictionary<string, (string Unit, string Description)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Name == Meter)
                    found[instrument.Name] = (instrument.Unit ?? "", instrument.Description ?? "");
            },
        };
        listener.Start();
        await using (var app = await KestrelApp.StartAsync(b => b.UseKeepAlivePolicy()))
            await LoopbackClientReadAsync(app.BaseAddress);
        Assert.Contains("keepalive.lost_connections", found.Keys);
        return new Dictionary<string, (string, string)>(found);
    }

    private static async Task LoopbackClientReadAsync(Uri address)
    {
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(30) };
        await client.GetStringAsync(new Uri(address, "/socket"), TestContext.Current.CancellationToken);
    }

    // Aspire writes a UCUM annotation as its word ("{connection}": "Connections") and spells out units ("s": "Seconds").
    private static string UnitAsShown(string unit) => unit switch
    {
        "s" => "second",
        ['{', .. var word, '}'] => word,
        _ => unit,
    };

    // A client alive but not reading: a 4 KiB receive buffer, the sample's /stream asked for, a little read, then nothing.
    private static async Task<Socket> StallAsync(Uri server)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        try
        {
            socket.Bind(new IPEndPoint(LoopbackAddresses.Next(), 0));
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Parse(server.Host), server.Port), TestContext.Current.CancellationToken);
            await socket.SendAsync(Encoding.ASCII.GetBytes("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"), TestContext.Current.CancellationToken);
            await socket.ReceiveAsync(new byte[256], TestContext.Current.CancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static List<string> LostLines(SampleProcess sample) =>
        [.. LostLine().Matches(sample.Output).Select(m => m.Groups[1].Value)];

    private static Task EventuallyAsync(Func<Task<bool>> condition, string what, AspireDashboard dashboard, SampleProcess sample) =>
        Eventually.HoldsAsync(condition, what, Settle, TimeSpan.FromMilliseconds(250), () => $"\nThe sample wrote:\n{sample.Output}\nThe dashboard wrote:\n{dashboard.Output}");

    [GeneratedRegex(@" lost \((\w+)\)")]
    private static partial Regex LostLine();

    /// <summary>
    /// The causes this test's clients are lost under, in one place: issue 18 renames them (tcp_keepalive_timeout,
    /// tcp_user_timeout, tcp_zero_window).
    /// </summary>
    private static class Causes
    {
        public const string IdlePeerVanished = "tcp_keepalive_timeout";
        public const string WrittenPeerVanished = "tcp_user_timeout";
        public const string PeerStoppedReading = "tcp_zero_window";
    }
}
