using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace KeepAlive.AspNetCore.Tests.Infrastructure;

/// <summary>
/// An OpenTelemetry exporter that keeps what it is given (the InMemory exporter package is not on this
/// project's mirror). The SDK reuses its <see cref="Metric"/> objects, so each export is copied.
/// </summary>
public sealed class CollectingMetricExporter : BaseExporter<Metric>
{
    private readonly List<ExportedMetric> _metrics = [];

    public IReadOnlyList<ExportedMetric> Metrics
    {
        get { lock (_metrics) return [.. _metrics]; }
    }

    public override ExportResult Export(in Batch<Metric> batch)
    {
        lock (_metrics)
        {
            foreach (var metric in batch)
            {
                var points = new List<ExportedPoint>();
                foreach (ref readonly var point in metric.GetMetricPoints())
                {
                    var tags = new Dictionary<string, object?>();
                    foreach (var tag in point.Tags)
                        tags[tag.Key] = tag.Value;
                    points.Add(metric.MetricType switch
                    {
                        MetricType.LongSum => new ExportedPoint(tags, point.GetSumLong(), 0, []),
                        MetricType.Histogram => new ExportedPoint(tags, point.GetHistogramSum(), point.GetHistogramCount(), Buckets(point)),
                        _ => new ExportedPoint(tags, double.NaN, 0, []),
                    });
                }
                _metrics.Add(new ExportedMetric(metric.Name, metric.Unit, metric.Description, metric.MetricType, points));
            }
        }
        return ExportResult.Success;
    }

    private static double[] Buckets(MetricPoint point)
    {
        var bounds = new List<double>();
        foreach (var bucket in point.GetHistogramBuckets())
            bounds.Add(bucket.ExplicitBound);
        return [.. bounds];
    }
}

public sealed record ExportedMetric(string Name, string Unit, string Description, MetricType Type, IReadOnlyList<ExportedPoint> Points);

/// <summary>A point: its attributes, its sum (counter value or histogram sum), its count and bucket bounds.</summary>
public sealed record ExportedPoint(IReadOnlyDictionary<string, object?> Tags, double Sum, long Count, double[] BucketBounds);
