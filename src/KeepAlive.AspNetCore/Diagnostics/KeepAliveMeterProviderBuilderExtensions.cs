using KeepAlive.AspNetCore;

namespace OpenTelemetry.Metrics;

/// <summary>Adds the keepalive metrics to an OpenTelemetry meter provider.</summary>
public static class KeepAliveMeterProviderBuilderExtensions
{
    // Kestrel's own meter: kestrel.active_connections, kestrel.connection.duration (which the library
    // tags with keepalive.policy and error.type), kestrel.queued_connections, ...
    private const string KestrelMeterName = "Microsoft.AspNetCore.Server.Kestrel";

    /// <summary>
    /// Collects the metrics of KeepAlive.AspNetCore (connections the policy was applied to, connections
    /// lost because the peer stopped answering, by cause, how long those peers were silent, and policy
    /// errors) and Kestrel's own connection metrics, which the library tags and its dashboard shows next
    /// to them (<c>kestrel.active_connections</c>, <c>kestrel.connection.duration</c>).
    /// </summary>
    /// <remarks>
    /// The same as <c>AddMeter(KeepAliveInstrumentation.MeterName, "Microsoft.AspNetCore.Server.Kestrel")</c>.
    /// <c>AddAspNetCoreInstrumentation()</c> (OpenTelemetry.Instrumentation.AspNetCore) adds Kestrel's
    /// meter too, among ASP.NET Core's others; adding a meter twice is harmless.
    /// </remarks>
    /// <param name="builder">The meter provider builder.</param>
    /// <returns>The <paramref name="builder"/>.</returns>
    public static MeterProviderBuilder AddKeepAliveInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter(KeepAliveInstrumentation.MeterName, KestrelMeterName);
    }
}
