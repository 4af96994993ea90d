namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Services;

/// <summary>One data point of a Sum metric: metric name, unit, attributes and value.</summary>
public sealed record OtlpDataPoint(string Metric, string Unit, IReadOnlyDictionary<string, string> Attributes, double Value);
