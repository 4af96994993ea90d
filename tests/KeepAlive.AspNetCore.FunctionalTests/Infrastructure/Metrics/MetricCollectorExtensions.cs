using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Metrics;

/// <summary>
/// <see cref="MetricCollector{T}"/> for one app's instruments. Scoped to the app's <see cref="IMeterFactory"/>,
/// so tests running in parallel, each with its own host, never see each other's measurements.
/// </summary>
internal static class MetricCollectorExtensions
{
    public const string KestrelMeter = "Microsoft.AspNetCore.Server.Kestrel";

    /// <summary>
    /// Collects <paramref name="instrument"/> of <paramref name="meter"/> in <paramref name="app"/>. Create it before the
    /// first connection of the test: Kestrel only tags a connection's duration while that histogram is listened to.
    /// </summary>
    public static MetricCollector<T> Collect<T>(this KestrelApp app, string meter, string instrument) where T : struct =>
        new(app.App.Services.GetRequiredService<IMeterFactory>(), meter, instrument);

    /// <summary>
    /// The measurements that are events: a counter's 0 is the library making its series exist before the first event
    /// (KeepAliveMetrics.Announce, checked on its own), not a connection.
    /// </summary>
    public static IReadOnlyList<CollectedMeasurement<T>> Events<T>(this MetricCollector<T> collector, bool clear = false) where T : struct =>
        [.. collector.GetMeasurementSnapshot(clear).Where(m => !(collector.Instrument is Counter<T> && m.Value.Equals(default(T))))];

    /// <summary>Waits until <paramref name="collector"/> holds <paramref name="count"/> events (<see cref="Events{T}"/>), or fails; returns them.</summary>
    public static Task<IReadOnlyList<CollectedMeasurement<T>>> WaitForAsync<T>(this MetricCollector<T> collector, int count, TimeSpan timeout) where T : struct =>
        // Polled, and read on the test's thread: the collector would complete its own wait inside the library's Add or
        // Record (a lost connection's silence is recorded right after its count), and it counts the zeros too.
        Eventually.ReadsAsync(() => Task.FromResult(collector.Events()), events => events.Count >= count,
            $"{count} measurements of {collector.Instrument?.Name ?? "the instrument (never published)"}", timeout, TimeSpan.FromMilliseconds(20),
            events => $"{events?.Count} measurements");
}
