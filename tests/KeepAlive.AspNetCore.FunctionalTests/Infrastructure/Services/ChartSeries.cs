namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Services;

/// <summary>One series of a dashboard graph.</summary>
internal sealed record ChartSeries(string Name, double? Latest, string Text);
