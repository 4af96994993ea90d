using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Metrics;

/// <summary>
/// Collects <c>keepalive.connections</c> of one app on demand, as an exporter's scrape does: the value of each
/// <c>keepalive.connection.state</c>, summed over the app's endpoints and policies.
/// </summary>
internal sealed class ConnectionGauge(KestrelApp app) : IDisposable
{
    private readonly MetricCollector<long> _collector = app.Collect<long>(KeepAliveInstrumentation.MeterName, "keepalive.connections");

    /// <summary>One collection: state -> connections (<c>(total)</c> for a measurement without a state).</summary>
    public IReadOnlyDictionary<string, long> Collect()
    {
        lock (_collector)
        {
            _collector.Clear();
            _collector.RecordObservableInstruments();
            var collected = new Dictionary<string, long>();
            foreach (var measurement in _collector.GetMeasurementSnapshot())
            {
                var state = measurement.Tags.GetValueOrDefault("keepalive.connection.state") as string ?? "(total)";
                collected[state] = collected.GetValueOrDefault(state) + measurement.Value;
            }
            return collected;
        }
    }

    /// <summary>The value of <paramref name="state"/> in <paramref name="collected"/>, <see langword="null"/> when not reported.</summary>
    public static long? Of(IReadOnlyDictionary<string, long> collected, string state) =>
        collected.TryGetValue(state, out var value) ? value : null;

    public static string Describe(IReadOnlyDictionary<string, long> collected) =>
        string.Join(", ", collected.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"));

    public void Dispose() => _collector.Dispose();
}
