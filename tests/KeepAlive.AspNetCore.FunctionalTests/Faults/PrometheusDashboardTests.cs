using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace KeepAlive.AspNetCore.FunctionalTests.Faults;

/// <summary>
/// The Grafana dashboard (samples/dashboards/keepalive-aspnetcore.json) on a real Prometheus during a real outage, as
/// an SRE runs it over replicas: two instances of the sample as it ships, each run as a process with a short route
/// policy, scraped every second; clients of their idle event streams vanish, 3 on one and 2 on the other; then every
/// panel's query is run through Prometheus' HTTP API with the dashboard's variables set as Grafana sets them: every
/// instance, each instance alone, and a policy that lost nothing. Each query must return data, the lost-connection
/// panels must count exactly the clients that vanished where they vanished, and the variables must select.
/// </summary>
public partial class PrometheusDashboardTests
{
    // The cause of an idle client's loss, as the library names it today (issue 18 renames it tcp_keepalive_timeout).
    private const string IdlePeerVanished = "tcp_keepalive_timeout";
    private static readonly int[] Vanishing = [3, 2];
    // The sample's "streaming" policy made short: Idle 1 s, Interval 1 s, ProbeCount 2; its UserTimeout derived, 3 s.
    private static readonly Dictionary<string, string> ShortStreamingPolicy = new()
    {
        ["KeepAlive__Policies__streaming__Idle"] = "00:00:01",
        ["KeepAlive__Policies__streaming__Interval"] = "00:00:01",
        ["KeepAlive__Policies__streaming__ProbeCount"] = "2",
    };
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(15);

    [Fact(Timeout = 120_000)]
    public async Task Every_panel_has_data_and_counts_the_vanished_clients_per_instance()
    {
        PrivateNetworkNamespace.Require();
        if (PrometheusServer.ExecutablePath is null)
            Assert.Fail("This test needs Debian's prometheus package, which is not installed: apt-get install prometheus (eng/test.sh does it).");
        var output = TestContext.Current.TestOutputHelper;

        await using var first = await SampleProcess.StartAsync(ShortStreamingPolicy);
        await using var second = await SampleProcess.StartAsync(ShortStreamingPolicy);
        SampleProcess[] samples = [first, second];
        var instances = samples.Select(s => s.BaseAddress.Authority).ToArray();
        var scrapedFrom = DateTimeOffset.UtcNow;
        await using var prometheus = await PrometheusServer.StartAsync(instances);
        var job = $"{{job=\"{PrometheusServer.Job}\"}}";

        // One scrape of each before any client: the series the samples have at zero are in Prometheus at zero.
        await EventuallyAsync(prometheus, $"sum(up{job})", v => v == samples.Length, "a first scrape of both samples", samples);

        var clients = new List<VanishingClient>();
        try
        {
            for (var s = 0; s < samples.Length; s++)
            {
                for (var i = 0; i < Vanishing[s]; i++)
                {
                    var client = await VanishingClient.ConnectAsync(samples[s].BaseAddress);
                    clients.Add(client);
                    await client.SendAndReadUntilAsync("GET /events HTTP/1.1\r\nHost: x\r\n\r\n", "data: connected");
                }
            }
            // A scrape with every stream open (and Prometheus' own connections): the lost-connection series are in
            // Prometheus at zero before the first loss, which is what lets increase() count it.
            await EventuallyAsync(prometheus, $"sum(kestrel_active_connections{job})", v => v >= Vanishing.Sum() + samples.Length, "the open streams scraped", samples);

            await Task.WhenAll(clients.Select(c => c.VanishAsync()));
            var lost = await EventuallyAsync(prometheus, $"sum(keepalive_lost_connections_total{job})", v => v >= Vanishing.Sum(), "every vanished client counted as lost and scraped", samples);
            Assert.Equal(Vanishing.Sum(), lost);
            // increase() extrapolates a series to the range's end, by up to one scrape interval over the series' life:
            // flat scrapes after the losses make that life long (a young series read 5.569 for 5).
            await Task.Delay(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        }
        finally
        {
            foreach (var client in clients)
                await client.DisposeAsync();
        }

        // Every query evaluated at the last scrape, over a range that reaches back before the first one: Prometheus then
        // extrapolates nothing, and counts exactly what the samples counted.
        var at = (await prometheus.QueryAsync($"max(timestamp(up{job}))")).Single().Value;
        var range = TimeSpan.FromSeconds(Math.Ceiling(at - scrapedFrom.ToUnixTimeMilliseconds() / 1000.0) + 5);
        var rangeText = $"{range.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s";
        output?.WriteLine($"queries at {at.ToString(CultureInfo.InvariantCulture)} (the last scrape), ranges {rangeText}, instances {string.Join(", ", instances)}");

        using var dashboard = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "dashboards", "keepalive-aspnetcore.json"), TestContext.Current.CancellationToken));
        var failures = new List<string>();

        // Importable through Grafana's UI: the data source is an input, and what the dashboard needs is declared.
        Assert.Equal("DS_PROMETHEUS", dashboard.RootElement.GetProperty("__inputs")[0].GetProperty("name").GetString());
        Assert.Contains(dashboard.RootElement.GetProperty("__requires").EnumerateArray(), r => r.GetProperty("id").GetString() == "prometheus");

        // The variables, each a label_values query Prometheus answers with what is there.
        var variables = dashboard.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray()
            .Where(v => v.GetProperty("type").GetString() == "query")
            .ToDictionary(v => v.GetProperty("name").GetString()!, v => v.GetProperty("definition").GetString()!);
        Assert.Equal(["instance", "job", "policy"], variables.Keys.Order());
        var allSelected = new Dictionary<string, string> { ["job"] = PrometheusServer.Job, ["instance"] = ".*", ["policy"] = ".*" };
        Assert.Contains(PrometheusServer.Job, await LabelValuesAsync(prometheus, variables["job"], allSelected, at));
        Assert.Equal(instances.Order(), (await LabelValuesAsync(prometheus, variables["instance"], allSelected, at)).Order());
        Assert.Equal(["default", "streaming"], (await LabelValuesAsync(prometheus, variables["policy"], allSelected, at)).Order());

        var targets = Panels(dashboard.RootElement)
            .SelectMany(panel => panel.GetProperty("targets").EnumerateArray()
                .Select(target => (Title: panel.GetProperty("title").GetString()!, Expr: target.GetProperty("expr").GetString()!)))
            .ToList();
        Assert.NotEmpty(targets);
        // Every query is narrowed by the variables: instance everywhere, policy wherever the series carry one.
        foreach (var (title, expr) in targets)
        {
            if (!expr.Contains("instance=~\"$instance\"", StringComparison.Ordinal) || !expr.Contains("job=~\"$job\"", StringComparison.Ordinal))
                failures.Add($"Panel '{title}' ignores the job or instance variable: {expr}");
            if (expr.Contains("keepalive_", StringComparison.Ordinal) && !expr.Contains("keepalive_policy=~\"$policy\"", StringComparison.Ordinal))
                failures.Add($"Panel '{title}' ignores the policy variable: {expr}");
        }

        // All instances, then each alone: every panel has data, and the lost-connection panels count where the clients vanished.
        var selections = new List<(string Name, string[] Selected)> { ("every instance", instances) };
        selections.AddRange(instances.Select(i => ($"instance {i}", new[] { i })));
        var lostPanels = 0;
        foreach (var (name, selected) in selections)
        {
            // As Grafana writes a multi-value selection for Prometheus: each value regex-escaped, the backslashes doubled in PromQL's string.
            var values = new Dictionary<string, string>(allSelected) { ["instance"] = string.Join('|', selected.Select(v => Regex.Escape(v).Replace(@"\", @"\\", StringComparison.Ordinal))) };
            foreach (var (title, expr) in targets)
            {
                var query = Substitute(expr, values, rangeText);
                var result = await prometheus.QueryAsync(query, at);
                output?.WriteLine($"[{name}] {title}: {query}\n  {string.Join("\n  ", result)}");
                if (result.Count == 0 || result.Any(s => !double.IsFinite(s.Value)))
                    failures.Add($"[{name}] Panel '{title}' has no data: {query} returned [{string.Join(", ", result)}]");
                if (!expr.Contains("keepalive_lost_connections_total", StringComparison.Ordinal))
                    continue;
                lostPanels++;
                foreach (var series in result)
                {
                    // What the series should hold: the clients vanished on the instances it covers, all lost idle.
                    var covered = series.Labels.TryGetValue("instance", out var instance) ? [instance] : selected;
                    var cause = series.Labels.GetValueOrDefault("error_type", IdlePeerVanished);
                    var expected = cause == IdlePeerVanished ? covered.Sum(i => Vanishing[Array.IndexOf(instances, i)]) : 0;
                    // Whole numbers, as the panels draw them (decimals 0): increase() extrapolates to the range's end, and the
                    // instance last scraped before the query's time (the other's last scrape) reads a fraction more (3.34 for 3).
                    if (Math.Round(series.Value) != expected)
                    {
                        failures.Add($"[{name}] Panel '{title}' reads {series}; it should be {expected}: {Vanishing[0]} and {Vanishing[1]} clients vanished " +
                            $"on {instances[0]} and {instances[1]}, every one idle ({IdlePeerVanished}). (Missing the first loss: Prometheus' increase() " +
                            $"needs each series at zero before its first loss.)\n  {query}");
                    }
                }
            }
        }
        Assert.True(lostPanels >= 2 * selections.Count, "The dashboard has fewer than two panels that count lost connections.");

        // A policy under which nothing was lost: the losses (all under "streaming") are not counted there.
        var defaultPolicy = new Dictionary<string, string>(allSelected) { ["policy"] = "default" };
        foreach (var (title, expr) in targets.Where(t => t.Expr.Contains("keepalive_lost_connections_total", StringComparison.Ordinal)))
        {
            var query = Substitute(expr, defaultPolicy, rangeText);
            var counted = (await prometheus.QueryAsync(query, at)).Sum(s => s.Value);
            if (counted != 0)
                failures.Add($"[policy default] Panel '{title}' counts {counted} lost connections; every loss was under the policy streaming.\n  {query}");
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures) + $"\nThe samples wrote:\n{first.Output}\n{second.Output}");
    }

    private static string Substitute(string expr, IReadOnlyDictionary<string, string> values, string range)
    {
        var query = expr.Replace("$__rate_interval", range).Replace("$__range", range).Replace("$__interval", range);
        foreach (var (name, value) in values)
            query = query.Replace($"${{{name}}}", value).Replace($"${name}", value);
        Assert.DoesNotContain("$", query);
        return query;
    }

    // Grafana's label_values(metric{selector}, label): the label's values on the series the selector picks.
    private static async Task<IReadOnlyList<string>> LabelValuesAsync(PrometheusServer prometheus, string definition, IReadOnlyDictionary<string, string> values, double at)
    {
        var match = LabelValues().Match(definition);
        Assert.True(match.Success, $"Not a label_values query: {definition}");
        var selector = Substitute(match.Groups[1].Value.Trim(), values, "1s");
        var label = match.Groups[2].Value.Trim();
        return [.. (await prometheus.QueryAsync($"count by ({label}) ({selector})", at)).Select(s => s.Labels[label]).Distinct()];
    }

    // Panels, and the panels inside rows.
    private static IEnumerable<JsonElement> Panels(JsonElement parent) =>
        parent.TryGetProperty("panels", out var panels)
            ? panels.EnumerateArray().SelectMany(p => p.TryGetProperty("targets", out _) ? [p] : Panels(p))
            : [];

    private static async Task<double> EventuallyAsync(PrometheusServer prometheus, string query, Func<double, bool> condition, string what, SampleProcess[] samples) =>
        (await Eventually.ReadsAsync(
            async () => (await prometheus.QueryAsync(query)).SingleOrDefault()?.Value,
            value => value is { } v && condition(v),
            what, Settle, TimeSpan.FromMilliseconds(200),
            last => $"{query} = {last?.ToString(CultureInfo.InvariantCulture) ?? "no data"}.\nPrometheus wrote:\n{prometheus.Output}\nThe samples wrote:\n{string.Join("\n", samples.Select(s => s.Output))}"))!.Value;

    [GeneratedRegex(@"^label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$")]
    private static partial Regex LabelValues();
}
