using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Services;

/// <summary>
/// A real Prometheus (Debian's <c>prometheus</c> package, installed by <c>eng/test.sh</c>) as a child
/// process: its configuration and storage in a temporary directory of its own, listening on 127.0.0.1
/// on a free port, scraping its targets every second. Queries go through its HTTP API, as Grafana's do.
/// </summary>
internal sealed class PrometheusServer : IAsyncDisposable
{
    public const string Job = "keepalive-sample";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private readonly Process _process;
    private readonly string _directory;
    private readonly HttpClient _client;
    private readonly List<string> _output = [];

    private PrometheusServer(Process process, string directory, Uri address)
    {
        _process = process;
        _directory = directory;
        _client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = address, Timeout = TimeSpan.FromSeconds(10) };
    }

    /// <summary>The prometheus executable, or <see langword="null"/> when it is not installed.</summary>
    public static string? ExecutablePath { get; } =
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/bin", "/usr/local/bin", "/bin"])
            .Select(d => Path.Combine(d, "prometheus")).FirstOrDefault(File.Exists);

    public string Output
    {
        get { lock (_output) return string.Join(Environment.NewLine, _output); }
    }

    /// <summary>
    /// Starts Prometheus scraping <c>http://{target}/metrics</c> of each target every second, one job (each target its
    /// <c>instance</c>, <c>host:port</c>), and waits until it is ready.
    /// </summary>
    public static async Task<PrometheusServer> StartAsync(params string[] targets)
    {
        var executable = ExecutablePath ?? throw new InvalidOperationException("prometheus is not installed (apt-get install prometheus; eng/test.sh does it).");
        var directory = Directory.CreateTempSubdirectory("keepalive-prometheus-").FullName;
        var config = Path.Combine(directory, "prometheus.yml");
        await File.WriteAllTextAsync(config, $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: {Job}
                metrics_path: /metrics
                static_configs:
                  - targets: [{string.Join(", ", targets.Select(t => $"'{t}'"))}]
            """, TestContext.Current.CancellationToken);

        var address = new Uri($"http://127.0.0.1:{FreeTcpPort.Next()}");
        var start = new ProcessStartInfo(executable)
        {
            ArgumentList =
            {
                $"--config.file={config}",
                $"--storage.tsdb.path={Path.Combine(directory, "data")}",
                $"--web.listen-address={address.Authority}",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            },
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var server = new PrometheusServer(Process.Start(start)!, directory, address);
        server._process.OutputDataReceived += (_, e) => server.OnLine(e.Data);
        server._process.ErrorDataReceived += (_, e) => server.OnLine(e.Data);
        server._process.BeginOutputReadLine();
        server._process.BeginErrorReadLine();

        // Not Eventually: a probe that throws until Prometheus listens, and a process that may die first.
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            try
            {
                using var ready = await server._client.GetAsync("/-/ready", TestContext.Current.CancellationToken);
                if (ready.StatusCode == HttpStatusCode.OK)
                    return server;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            if (server._process.HasExited || Stopwatch.GetElapsedTime(started) > StartTimeout)
            {
                await server.DisposeAsync();
                throw new TimeoutException($"Prometheus was not ready within {StartTimeout.TotalSeconds} s. It wrote:\n{server.Output}");
            }
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>Evaluates <paramref name="query"/> at <paramref name="time"/> (Unix seconds; now when null): an instant query.</summary>
    public async Task<IReadOnlyList<PrometheusSample>> QueryAsync(string query, double? time = null)
    {
        var parameters = new Dictionary<string, string> { ["query"] = query };
        if (time is { } at)
            parameters["time"] = at.ToString("R", CultureInfo.InvariantCulture);
        using var response = await _client.PostAsync("/api/v1/query", new FormUrlEncodedContent(parameters), TestContext.Current.CancellationToken);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        using var json = JsonDocument.Parse(body);
        var root = json.RootElement;
        if (root.GetProperty("status").GetString() != "success")
            throw new InvalidOperationException($"Prometheus rejected the query {query}: {body}");
        var data = root.GetProperty("data");
        return data.GetProperty("resultType").GetString() switch
        {
            "vector" => [.. data.GetProperty("result").EnumerateArray().Select(PrometheusSample.From)],
            "scalar" => [new PrometheusSample(new Dictionary<string, string>(), ParseValue(data.GetProperty("result")))],
            var type => throw new InvalidOperationException($"Unexpected result type {type} for {query}: {body}"),
        };
    }

    /// <summary>The values of <paramref name="label"/> on the series <paramref name="match"/> selects (Grafana's <c>label_values</c>).</summary>
    public async Task<IReadOnlyList<string>> LabelValuesAsync(string label, string match)
    {
        var body = await _client.GetStringAsync($"/api/v1/label/{label}/values?match[]={Uri.EscapeDataString(match)}", TestContext.Current.CancellationToken);
        using var json = JsonDocument.Parse(body);
        return [.. json.RootElement.GetProperty("data").EnumerateArray().Select(v => v.GetString()!)];
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        if (!_process.HasExited)
            _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A temporary directory; the next boot clears it.
        }
    }

    internal static double ParseValue(JsonElement pair) =>
        double.Parse(pair[1].GetString()!, NumberStyles.Float, CultureInfo.InvariantCulture);

    private void OnLine(string? line)
    {
        if (line is not null)
            lock (_output)
                _output.Add(line);
    }
}
