using KeepAlive.AspNetCore;

namespace OpenTelemetry.Metrics;

/// <summary>Adds the keepalive metrics to an OpenTelemetry meter provider.</summary>
public static class KeepAliveMeterProviderBuilderExtensions
{
    /// <summary>
    /// Collects the metrics of KeepAlive.AspNetCore: connections the policy was applied to, connections
    /// lost because the peer stopped answering (by cause), how long those peers were silent, and policy
    /// errors. The same as <c>AddMeter(KeepAliveInstrumentation.MeterName)</c>.
    /// </summary>
    /// <param name="builder">The meter provider builder.</param>
    /// <returns>The <paramref name="builder"/>.</returns>
    public static MeterProviderBuilder AddKeepAliveInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter(KeepAliveInstrumentation.MeterName);
    }
}
