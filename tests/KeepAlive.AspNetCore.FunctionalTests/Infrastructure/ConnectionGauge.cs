using System.Diagnostics.Metrics;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure;

/// <summary>
/// Collects <c>keepalive.connections</c> on demand, as an exporter's scrape does, for one server port: the value of
/// each <c>keepalive.connection.state</c>, summed over policies. The listener hears every host's meter in the
/// process (tests run in parallel), so it keeps only this test's port.
/// </summary>
internal sealed class ConnectionGauge : IDisposable
{
    private const string Instrument = "keepalive.connections";
    private readonly MeterListener _listener = new();
    private readonly Lock _lock = new();
    private Dictionary<string, long>? _collecting;

    public ConnectionGauge()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == KeepAliveInstrumentation.MeterName && instrument.Name == Instrument)
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.Start();
    }

    /// <summary>The port to read for; set once the host has bound it.</summary>
    public int Port { get; set; }

    /// <summary>One collection: state -> connections (<c>(total)</c> for a measurement without a state).</summary>
    public IReadOnlyDictionary<string, long> Collect()
    {
        lock (_lock)
        {
            _collecting = [];
            _listener.RecordObservableInstruments();
            var collected = _collecting;
            _collecting = null;
            return collected;
        }
    }

    /// <summary>The value of <paramref name="state"/> in <paramref name="collected"/>, <see langword="null"/> when not reported.</summary>
    public static long? Of(IReadOnlyDictionary<string, long> collected, string state) =>
        collected.TryGetValue(state, out var value) ? value : null;

    public static string Describe(IReadOnlyDictionary<string, long> collected) =>
        string.Join(", ", collected.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"));

    public void Dispose() => _listener.Dispose();

    private void OnMeasurement(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        var ours = false;
        var connectionState = "(total)";
        foreach (var tag in tags)
        {
            if (tag.Key == "server.port")
                ours = tag.Value is int port && port == Port;
            else if (tag.Key == "keepalive.connection.state")
                connectionState = (string)tag.Value!;
        }
        if (ours && _collecting is { } collecting)
            collecting[connectionState] = collecting.GetValueOrDefault(connectionState) + value;
    }
}
