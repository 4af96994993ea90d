using System.Diagnostics;
using System.Globalization;
using System.Net;
using KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Workloads;

namespace KeepAlive.AspNetCore.Outage;

/// <summary>
/// The clients that never left: a few keep-alive HTTP connections from an address of their own, each sending
/// <c>GET /ping</c> every 10 ms until stopped (bounded in time and count), recording each request's latency. A light,
/// paced load, so that it measures the server rather than saturating it: what these clients see while the server
/// reclaims the dead and serves the reconnecting is what the outage costs everyone else.
/// </summary>
internal sealed class LatencyProbe
{
    public const int Connections = 8;
    private const int MaxRequests = 500_000;
    private static readonly TimeSpan Pace = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan MaxDuration = TimeSpan.FromMinutes(5);

    private readonly List<double>[] _latencies = Enumerable.Range(0, Connections).Select(_ => new List<double>()).ToArray();
    private readonly CancellationTokenSource _stop = new(MaxDuration);
    private readonly HttpClient _client;
    private readonly Task _running;
    private int _requests, _errors;

    private LatencyProbe(IPEndPoint server, IPAddress from)
    {
        _client = new HttpClient(new ClientSockets(from).Handler()) { BaseAddress = new Uri($"http://{server}"), Timeout = TimeSpan.FromSeconds(30) };
        _running = Task.WhenAll(_latencies.Select(latencies => Task.Run(() => RunAsync(_client, latencies))));
    }

    public static LatencyProbe Start(IPEndPoint server, IPAddress from) => new(server, from);

    /// <summary>Stops the requests; returns <c>REQUESTS ERRORS P50_MS P99_MS MAX_MS</c>.</summary>
    public async Task<string> StopAsync()
    {
        await _stop.CancelAsync();
        await _running;
        _client.Dispose();
        var all = _latencies.SelectMany(l => l).Order().ToArray();
        double At(double q) => all.Length == 0 ? double.NaN : all[Math.Min(all.Length - 1, (int)(q * all.Length))];
        return string.Create(CultureInfo.InvariantCulture, $"{all.Length} {_errors} {At(0.50):F3} {At(0.99):F3} {(all.Length == 0 ? double.NaN : all[^1]):F3}");
    }

    private async Task RunAsync(HttpClient client, List<double> latencies)
    {
        using var pace = new PeriodicTimer(Pace);
        while (await WaitAsync(pace) && Interlocked.Increment(ref _requests) <= MaxRequests)
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                using var response = await client.GetAsync("/ping", _stop.Token);
                response.EnsureSuccessStatusCode();
                await response.Content.ReadAsByteArrayAsync(_stop.Token);
                latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (HttpRequestException)
            {
                Interlocked.Increment(ref _errors);
            }
        }
    }

    private async Task<bool> WaitAsync(PeriodicTimer pace)
    {
        try
        {
            return await pace.WaitForNextTickAsync(_stop.Token);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
