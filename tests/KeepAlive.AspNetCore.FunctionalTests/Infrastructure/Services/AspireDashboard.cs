using System.Diagnostics;
using System.Reflection;
using System.Text.Json;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Services;

/// <summary>
/// The real Aspire dashboard, standalone, as a child process: the self-contained binary of the NuGet package
/// Aspire.Dashboard.Sdk.linux-x64 (downloaded at restore by this project's PackageDownload), on 127.0.0.1 with ports
/// of its own, anonymous (no browser token), OTLP over gRPC and HTTP unsecured. Its telemetry HTTP API
/// (<c>/api/telemetry/logs</c>) serves the structured logs; metrics are read in a browser (<see cref="DashboardBrowser"/>).
/// </summary>
internal sealed class AspireDashboard : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly Process _process;
    private readonly HttpClient _client;
    private readonly List<string> _output = [];

    private AspireDashboard(Process process, Uri address, Uri otlpGrpc, Uri otlpHttp)
    {
        _process = process;
        Address = address;
        OtlpGrpcEndpoint = otlpGrpc;
        OtlpHttpEndpoint = otlpHttp;
        _client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = address, Timeout = TimeSpan.FromSeconds(20) };
    }

    /// <summary>The dashboard's binary, as the build recorded it (this project's AspireDashboardPath metadata).</summary>
    public static string ExecutablePath { get; } =
        typeof(AspireDashboard).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "AspireDashboardPath").Value!;

    /// <summary>The web front end (and its API).</summary>
    public Uri Address { get; }

    /// <summary>Where an app sends OTLP over gRPC (<c>OTEL_EXPORTER_OTLP_ENDPOINT</c>, the exporters' default protocol).</summary>
    public Uri OtlpGrpcEndpoint { get; }

    /// <summary>Where an app sends OTLP over HTTP/protobuf.</summary>
    public Uri OtlpHttpEndpoint { get; }

    public string Output
    {
        get { lock (_output) return string.Join(Environment.NewLine, _output); }
    }

    public static async Task<AspireDashboard> StartAsync()
    {
        if (!File.Exists(ExecutablePath))
            Assert.Fail($"The Aspire dashboard is not at {ExecutablePath}: restore this project (dotnet restore; its PackageDownload of Aspire.Dashboard.Sdk.linux-x64 brings it), outside the network namespace.");

        var address = new Uri($"http://127.0.0.1:{FreeTcpPort.Next()}");
        var otlpGrpc = new Uri($"http://127.0.0.1:{FreeTcpPort.Next()}");
        var otlpHttp = new Uri($"http://127.0.0.1:{FreeTcpPort.Next()}");
        var start = new ProcessStartInfo(ExecutablePath)
        {
            WorkingDirectory = Path.GetDirectoryName(ExecutablePath)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment =
            {
                ["ASPNETCORE_URLS"] = address.ToString(),
                ["ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL"] = otlpGrpc.ToString(),
                ["ASPIRE_DASHBOARD_OTLP_HTTP_ENDPOINT_URL"] = otlpHttp.ToString(),
                ["ASPIRE_DASHBOARD_UNSECURED_ALLOW_ANONYMOUS"] = "true",
                ["Dashboard__Api__Enabled"] = "true",
                ["Dashboard__Api__AuthMode"] = "Unsecured",
                // Plain text, as any console; no update checks or other calls out (there is no network here).
                ["Logging__Console__FormatterName"] = "simple",
                ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            },
        };
        foreach (var variable in new[] { "ASPNETCORE_HTTP_PORTS", "ASPNETCORE_HTTPS_PORTS", "DOTNET_URLS", "OTEL_EXPORTER_OTLP_ENDPOINT" })
            start.Environment.Remove(variable);

        var dashboard = new AspireDashboard(Process.Start(start)!, address, otlpGrpc, otlpHttp);
        var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(string? line)
        {
            if (line is null)
                return;
            lock (dashboard._output)
                dashboard._output.Add(line);
            if (line.Contains("OTLP/HTTP listening on", StringComparison.Ordinal))
                listening.TrySetResult();
        }
        dashboard._process.OutputDataReceived += (_, e) => OnLine(e.Data);
        dashboard._process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        dashboard._process.BeginOutputReadLine();
        dashboard._process.BeginErrorReadLine();
        try
        {
            await listening.Task.WaitAsync(StartTimeout, TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            await dashboard.DisposeAsync();
            throw new TimeoutException($"The Aspire dashboard did not listen within {StartTimeout.TotalSeconds} s. It wrote:\n{dashboard.Output}");
        }
        return dashboard;
    }

    /// <summary>The resources (services) that sent telemetry: their <c>service.name</c>s.</summary>
    public async Task<IReadOnlyList<string>> ResourceNamesAsync()
    {
        using var json = JsonDocument.Parse(await _client.GetStringAsync("/api/telemetry/resources", TestContext.Current.CancellationToken));
        return [.. json.RootElement.EnumerateArray().Select(r => r.GetProperty("name").GetString()!)];
    }

    /// <summary>The structured logs of <paramref name="resource"/> through the dashboard's API (OTLP JSON), newest last.</summary>
    public async Task<IReadOnlyList<DashboardLogRecord>> LogsAsync(string resource, int limit = 2000)
    {
        using var response = await _client.GetAsync($"/api/telemetry/logs?resource={Uri.EscapeDataString(resource)}&limit={limit}", TestContext.Current.CancellationToken);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        if (!response.IsSuccessStatusCode)
            return [];
        using var json = JsonDocument.Parse(body);
        var records = new List<DashboardLogRecord>();
        foreach (var resourceLogs in json.RootElement.GetProperty("data").GetProperty("resourceLogs").EnumerateArray())
        foreach (var scopeLogs in resourceLogs.GetProperty("scopeLogs").EnumerateArray())
        foreach (var record in scopeLogs.GetProperty("logRecords").EnumerateArray())
        {
            var attributes = record.TryGetProperty("attributes", out var list)
                ? list.EnumerateArray().ToDictionary(a => a.GetProperty("key").GetString()!, a => AnyValue(a.GetProperty("value")))
                : [];
            records.Add(new DashboardLogRecord(
                scopeLogs.GetProperty("scope").GetProperty("name").GetString() ?? "",
                record.TryGetProperty("eventName", out var eventName) ? eventName.GetString() ?? "" : "",
                record.TryGetProperty("severityText", out var severity) ? severity.GetString() ?? "" : "",
                record.TryGetProperty("body", out var recordBody) ? AnyValue(recordBody) : "",
                attributes));
        }
        return records;
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        if (!_process.HasExited)
            _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        _process.Dispose();
    }

    // OTLP JSON AnyValue: {"stringValue": ...}, {"intValue": "..."}, {"doubleValue": ...}, {"boolValue": ...}.
    private static string AnyValue(JsonElement value) =>
        value.EnumerateObject().FirstOrDefault() is { Value.ValueKind: not JsonValueKind.Undefined } property
            ? property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString()! : property.Value.ToString()
            : "";
}
