using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure;

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

    /// <summary>Waits until <paramref name="collector"/> holds <paramref name="count"/> measurements, or fails; returns them.</summary>
    public static async Task<IReadOnlyList<CollectedMeasurement<T>>> WaitForAsync<T>(this MetricCollector<T> collector, int count, TimeSpan timeout) where T : struct
    {
        // WaitForMeasurementsAsync only cancels at the timeout; the failure should say how many came.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            // The collector completes the wait on the thread that records the measurement, inside the library's
            // Add or Record: leave that thread at once, so the library goes on (a lost connection's silence is recorded
            // right after its count) while the test reads what came.
            await collector.WaitForMeasurementsAsync(count, deadline.Token).ConfigureAwait(ConfigureAwaitOptions.ForceYielding | ConfigureAwaitOptions.ContinueOnCapturedContext);
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            Assert.Fail($"{collector.Instrument?.Name ?? "the instrument (never published)"}: {collector.GetMeasurementSnapshot().Count} measurements within {timeout.TotalSeconds} s, expected {count}.");
        }
        return collector.GetMeasurementSnapshot();
    }
}
