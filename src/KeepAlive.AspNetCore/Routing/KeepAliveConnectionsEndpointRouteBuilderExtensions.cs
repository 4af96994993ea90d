using System.Diagnostics.CodeAnalysis;
using KeepAlive.AspNetCore;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.AspNetCore.Builder;

/// <summary>The connection view: what the server holds under its keepalive policies, and which of it is dead.</summary>
public static class KeepAliveConnectionsEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Serves, on <c>GET <paramref name="pattern"/></c>, the open TCP connections under a keepalive policy as JSON, worst
    /// first: <c>zero_window</c>, <c>retransmitting</c>, <c>probing</c>, then <c>responsive</c>, each by silence, longest
    /// first; at most <c>?limit=</c> of them (1 to 10,000, default 100), with <c>count</c> (how many matched) and
    /// <c>omitted</c> (how many the limit left out). Each has <c>connectionId</c>, <c>remoteEndPoint</c>,
    /// <c>localEndPoint</c>, <c>policy</c>, <c>state</c>, <c>silence</c> (seconds since the peer's last sign of life),
    /// <c>lastDataReceived</c> (seconds since it last sent data), <c>rtt</c> (seconds), <c>probes</c>,
    /// <c>retransmits</c>, <c>unsentBytes</c> and the policy's <c>bounds</c> (seconds, <c>null</c> where unbounded).
    /// <c>?state=probing</c> (repeated or comma-separated) keeps only those states; an unknown state or a bad limit is a
    /// 400. Needs <c>builder.UseKeepAlivePolicy()</c>.
    /// </summary>
    /// <remarks>
    /// The view lists client addresses, which are personal data: never expose it anonymously. Protect it like a
    /// health check's details, with the returned builder: <c>.RequireAuthorization("operators")</c>, or
    /// <c>.RequireHost(...)</c> for an internal port.
    /// </remarks>
    /// <param name="endpoints">The app's routes.</param>
    /// <param name="pattern">The route, e.g. <c>/keepalive/connections</c>.</param>
    /// <returns>The endpoint's convention builder, to add authorization and other metadata to it.</returns>
    public static IEndpointConventionBuilder MapKeepAliveConnections(this IEndpointRouteBuilder endpoints, [StringSyntax("Route")] string pattern)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(pattern);
        var services = endpoints.ServiceProvider;
        // Checked now, resolved on the first request: the policies are built when Kestrel binds, where bad options fail.
        if (services.GetService<IServiceProviderIsService>()?.IsService(typeof(KeepAlivePolicies)) == false)
            throw new InvalidOperationException(Microsoft.AspNetCore.Hosting.KeepAliveListenOptionsExtensions.NotRegistered($"app.MapKeepAliveConnections(\"{pattern}\")"));
        RequestDelegate view = new KeepAliveConnectionView(services.GetRequiredService<KeepAlivePolicies>).InvokeAsync;
        return endpoints.MapGet(pattern, view).WithDisplayName("KeepAlive connections");
    }
}
