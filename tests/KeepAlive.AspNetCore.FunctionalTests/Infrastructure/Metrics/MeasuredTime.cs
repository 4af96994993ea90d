namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Metrics;

/// <summary>Writes what a fault test measured to the test output (kept in the .trx), one line per figure.</summary>
internal static class MeasuredTime
{
    public static void Report(string what, TimeSpan observed, TimeSpan bound) =>
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"measured: {what}: {observed.TotalSeconds:F3} s (bound {bound.TotalSeconds:F3} s)");
}
