using System.Text.Json;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Services;

/// <summary>One series of an instant query's result: its labels, and its value at the query's time.</summary>
internal sealed record PrometheusSample(IReadOnlyDictionary<string, string> Labels, double Value)
{
    public static PrometheusSample From(JsonElement series) => new(
        series.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!),
        PrometheusServer.ParseValue(series.GetProperty("value")));

    public override string ToString() => $"{{{string.Join(", ", Labels.Select(l => $"{l.Key}=\"{l.Value}\""))}}} {Value}";
}
