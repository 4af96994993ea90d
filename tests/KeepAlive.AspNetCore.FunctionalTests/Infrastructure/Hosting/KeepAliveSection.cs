namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Hosting;

/// <summary>Configuration for a test host, written as the <c>KeepAlive</c> section's keys.</summary>
internal static class KeepAliveSection
{
    /// <summary>Adds <c>KeepAlive:Key</c> = value for each <c>"Key=value"</c>, as appsettings.json would.</summary>
    public static void Add(IConfigurationBuilder configuration, params string[] keyValues) =>
        configuration.AddInMemoryCollection(keyValues.Select(pair => pair.Split('=', 2)).Select(parts =>
            KeyValuePair.Create($"KeepAlive:{parts[0]}", (string?)parts[1])));
}
