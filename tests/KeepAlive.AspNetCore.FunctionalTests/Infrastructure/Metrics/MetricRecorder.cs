using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Metrics;

/// <summary>
/// Records what the library's meter and Kestrel's report for one server port. The listener hears every
/// meter of those names in the process, and fault tests run in parallel, so it keeps only measurements
/// tagged with this test's <c>server.port</c>. Start it before the host accepts connections: Kestrel
/// only tags a connection's duration while that histogram is listened to.
/// </summary>
internal sealed class MetricRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<Measurement> _measurements = new();

    public MetricRecorder()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name is KeepAliveInstrumentation.MeterName or "Microsoft.AspNetCore.Server.Kestrel")
                listener.EnableMeasurementEvents(instrument);
        };
        // A counter's 0 is the library making its series exist before the first event (KeepAliveMetrics.Announce), not an event.
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (value != 0 || instrument is not Counter<long>)
                Record(instrument, value, tags);
        });
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
    }

    /// <summary>The port to keep measurements for; set once the host has bound it.</summary>
    public int Port { get; set; }

    public IReadOnlyList<Measurement> Of(string instrument) =>
        _measurements.Where(m => m.Instrument == instrument && Equals(m.Tags.GetValueOrDefault("server.port"), Port)).ToList();

    /// <summary>Waits until <paramref name="instrument"/> has <paramref name="count"/> measurements for this port, or fails.</summary>
    public Task<IReadOnlyList<Measurement>> WaitForAsync(string instrument, int count, TimeSpan timeout) =>
        Eventually.ReadsAsync(() => Task.FromResult(Of(instrument)), m => m.Count >= count, $"{count} measurements of {instrument}", timeout,
            state: m => $"{m?.Count} measurements");

    public void Dispose() => _listener.Dispose();

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var copy = new Dictionary<string, object?>();
        foreach (var tag in tags)
            copy[tag.Key] = tag.Value;
        _measurements.Enqueue(new Measurement(instrument.Name, value, copy));
    }

    public sealed record Measurement(string Instrument, double Value, IReadOnlyDictionary<string, object?> Tags)
    {
        public string? ErrorType => Tags.GetValueOrDefault("error.type") as string;
    }
}
