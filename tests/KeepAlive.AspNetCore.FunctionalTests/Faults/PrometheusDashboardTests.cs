using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using KeepAlive.AspNetCore.FunctionalTests.Infrastructure;

namespace KeepAlive.AspNetCore.FunctionalTests.Faults;

/// <summary>
/// The dashboard (samples/dashboards/keepalive-aspnetcore.json) on a real Prometheus during a real
/// outage: the sample as it ships, run as a process with a short route policy, scraped every second;
/// clients of its idle event stream vanish; then every panel's query is run through Prometheus' HTTP
/// API. Each must return data, and the lost-connection panels must count exactly the clients that vanished.
/// </summary>
public class PrometheusDashboardTests
{
    private const int Clients = 5;
    // The sample's "streaming" policy made short: Idle 1 s, Interval 1 s, ProbeCount 2; its UserTimeout derived, 3 s.
    private static readonly Dictionary<string, string> ShortStreamingPolicy = new()
    {
        ["KeepAlive__Policies__streaming__Idle"] = "00:00:01",
        ["KeepAlive__Policies__streaming__Interval"] = "00:00:01",
        ["KeepAlive__Policies__streaming__ProbeCount"] = "2",
    };
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(15);

    [Fact(Timeout = 90_000)]
    public async Task Every_panel_has_data_and_the_lost_connection_panels_count_the_vanished_clients()
    {
        PrivateNetworkNamespace.Require();
        if (PrometheusServer.ExecutablePath is null)
            Assert.Fail("This test needs Debian's prometheus package, which is not installed: apt-get install prometheus (eng/test.sh does it).");
        var output = TestContext.Current.TestOutputHelper;

        await using var sample = await SampleProcess.StartAsync(ShortStreamingPolicy);
        var scrapedFrom = DateTimeOffset.UtcNow;
        await using var prometheus = await PrometheusServer.StartAsync(sample.BaseAddress.Authority);
        var job = $"{{job=\"{PrometheusServer.Job}\"}}";

        // One scrape before any client: the series the sample has at zero are in Prometheus at zero.
        await EventuallyAsync(prometheus, $"max(up{job})", v => v == 1, "a first scrape of the sample", sample);

        var clients = new List<VanishingClient>();
        try
        {
            for (var i = 0; i < Clients; i++)
            {
                var client = await VanishingClient.ConnectAsync(sample.BaseAddress);
                clients.Add(client);
                await client.SendAndReadUntilAsync("GET /events HTTP/1.1\r\nHost: x\r\n\r\n", "data: connected");
            }
            // A scrape with every stream open (and Prometheus' own connection): the lost-connection series
            // are in Prometheus at zero before the first loss, which is what lets increase() count it.
            await EventuallyAsync(prometheus, $"sum(kestrel_active_connections{job})", v => v >= Clients + 1, "the open streams scraped", sample);

            await Task.WhenAll(clients.Select(c => c.VanishAsync()));
            var lost = await EventuallyAsync(prometheus, $"sum(keepalive_lost_connections_total{job})", v => v >= Clients, "every vanished client counted as lost and scraped", sample);
            Assert.Equal(Clients, lost);
        }
        finally
        {
            foreach (var client in clients)
                await client.DisposeAsync();
        }

        // Every query evaluated at the last scrape, over a range that reaches back before the first one:
        // Prometheus then extrapolates nothing, and counts exactly what the sample counted.
        var at = (await prometheus.QueryAsync($"max(timestamp(up{job}))")).Single().Value;
        var range = TimeSpan.FromSeconds(Math.Ceiling(at - scrapedFrom.ToUnixTimeMilliseconds() / 1000.0) + 5);
        var rangeText = $"{range.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s";
        output?.WriteLine($"queries at {at.ToString(CultureInfo.InvariantCulture)} (the last scrape), ranges {rangeText}");

        using var dashboard = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "dashboards", "keepalive-aspnetcore.json"), TestContext.Current.CancellationToken));
        // The dashboard's variable: label_values(keepalive_applied_connections_total, job).
        var variable = dashboard.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray().Single(v => v.GetProperty("name").GetString() == "job");
        Assert.Equal("label_values(keepalive_applied_connections_total, job)", variable.GetProperty("query").GetString());
        Assert.Contains(PrometheusServer.Job, await prometheus.LabelValuesAsync("job", "keepalive_applied_connections_total"));

        var targets = Panels(dashboard.RootElement)
            .SelectMany(panel => panel.GetProperty("targets").EnumerateArray()
                .Select(target => (Title: panel.GetProperty("title").GetString()!, Expr: target.GetProperty("expr").GetString()!)))
            .ToList();
        Assert.NotEmpty(targets);
        // Every panel is run and every failure reported, not only the first.
        var failures = new List<string>();
        var lostPanels = 0;
        foreach (var (title, expr) in targets)
        {
            var query = expr
                .Replace("$__rate_interval", rangeText).Replace("$__range", rangeText).Replace("$__interval", rangeText)
                .Replace("${job}", PrometheusServer.Job).Replace("$job", PrometheusServer.Job);
            Assert.DoesNotContain("$", query);
            var result = await prometheus.QueryAsync(query, at);
            output?.WriteLine($"{title}: {query}\n  {string.Join("\n  ", result)}");

            if (result.Count == 0 || result.Any(s => !double.IsFinite(s.Value)))
                failures.Add($"Panel '{title}' has no data: {query} returned [{string.Join(", ", result)}]");
            if (!expr.Contains("keepalive_lost_connections_total", StringComparison.Ordinal))
                continue;
            lostPanels++;
            // A rate panel shows lost connections per second; over the whole range, that is the count.
            var perRange = expr.Contains("rate(", StringComparison.Ordinal) ? range.TotalSeconds : 1;
            var counted = result.ToDictionary(s => s.Labels.GetValueOrDefault("error_type") ?? "", s => Math.Round(s.Value * perRange, 6));
            if (counted.GetValueOrDefault("tcp_keepalive_timeout", counted.GetValueOrDefault("")) != Clients || counted.Any(c => c.Key is not ("tcp_keepalive_timeout" or "") && c.Value != 0))
            {
                failures.Add($"Panel '{title}' counts {string.Join(", ", counted.Select(c => $"{c.Key}: {c.Value}"))}; {Clients} clients vanished, every one idle " +
                    $"(keepalive_timeout), so it should count {Clients} keepalive_timeout and 0 of any other cause. (Missing the first loss: " +
                    $"Prometheus' rate() and increase() need each series at zero before its first loss.)\n  {query}");
            }
        }
        Assert.True(lostPanels >= 1, "No panel of the dashboard counts lost connections.");
        Assert.True(failures.Count == 0, string.Join("\n", failures) + $"\nThe sample wrote:\n{sample.Output}");
    }

    // Panels, and the panels inside rows.
    private static IEnumerable<JsonElement> Panels(JsonElement parent) =>
        parent.TryGetProperty("panels", out var panels)
            ? panels.EnumerateArray().SelectMany(p => p.TryGetProperty("targets", out _) ? [p] : Panels(p))
            : [];

    private static async Task<double> EventuallyAsync(PrometheusServer prometheus, string query, Func<double, bool> condition, string what, SampleProcess sample)
    {
        var started = Stopwatch.GetTimestamp();
        double? last = null;
        while (Stopwatch.GetElapsedTime(started) < Settle)
        {
            if ((await prometheus.QueryAsync(query)).SingleOrDefault()?.Value is { } value)
            {
                last = value;
                if (condition(value))
                    return value;
            }
            await Task.Delay(200, TestContext.Current.CancellationToken);
        }
        throw new TimeoutException($"Not within {Settle.TotalSeconds} s: {what} ({query} = {last?.ToString(CultureInfo.InvariantCulture) ?? "no data"}).\nPrometheus wrote:\n{prometheus.Output}\nThe sample wrote:\n{sample.Output}");
    }
}
