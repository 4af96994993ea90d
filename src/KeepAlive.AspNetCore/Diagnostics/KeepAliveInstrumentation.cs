namespace KeepAlive.AspNetCore;

/// <summary>Names under which the library reports what it sees.</summary>
public static class KeepAliveInstrumentation
{
    /// <summary>
    /// The name of the meter of the library's metrics (<c>keepalive.applied_connections</c>,
    /// <c>keepalive.lost_connections</c>, <c>keepalive.lost_connection.silence</c>,
    /// <c>keepalive.policy_errors</c>, <c>keepalive.connections</c>): pass it to <c>AddMeter</c>, or call
    /// <c>AddKeepAliveInstrumentation()</c> on an OpenTelemetry <c>MeterProviderBuilder</c>.
    /// </summary>
    public const string MeterName = "KeepAlive.AspNetCore";
}
