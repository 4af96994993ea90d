using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Services;

/// <summary>
/// A minimal OTLP/HTTP metrics receiver on 127.0.0.1: accepts <c>POST /v1/metrics</c> with an
/// <c>application/x-protobuf</c> ExportMetricsServiceRequest and keeps the data points of Sum metrics.
/// </summary>
public sealed class OtlpMetricsReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<OtlpDataPoint> _points = new();
    private readonly ConcurrentDictionary<string, bool> _serviceNames = new();

    private OtlpMetricsReceiver(WebApplication app) => _app = app;

    public string Endpoint => _app.Urls.First();

    public IReadOnlyCollection<OtlpDataPoint> DataPoints => _points;

    /// <summary>The <c>service.name</c> resource attributes of the exports received.</summary>
    public IReadOnlyCollection<string> ServiceNames => (IReadOnlyCollection<string>)_serviceNames.Keys;

    public static async Task<OtlpMetricsReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var receiver = new OtlpMetricsReceiver(app);
        app.MapPost("/v1/metrics", async (HttpRequest request) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            foreach (var point in OtlpMetricsReader.ReadSumDataPoints(body.ToArray()))
                receiver._points.Enqueue(point);
            foreach (var name in OtlpMetricsReader.ReadServiceNames(body.ToArray()))
                receiver._serviceNames[name] = true;
            // An empty ExportMetricsServiceResponse.
            return Results.Bytes([], "application/x-protobuf");
        });
        await app.StartAsync();
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
