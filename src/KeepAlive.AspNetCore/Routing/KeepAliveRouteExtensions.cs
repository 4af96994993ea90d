using KeepAlive.AspNetCore;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Keepalive policies for routes.</summary>
public static class KeepAliveRouteExtensions
{
    /// <summary>
    /// Applies the named keepalive policy to the connection of each request that reaches these endpoints,
    /// for as long as the connection lives (with <see cref="UseKeepAliveRoutePolicies"/>). On HTTP/2, where
    /// streams share a connection, the connection gets the policy of the last such request.
    /// </summary>
    /// <typeparam name="TBuilder">The endpoint convention builder.</typeparam>
    /// <param name="builder">The endpoints, e.g. what <c>MapGet</c> returns.</param>
    /// <param name="policyName">The name of a policy in <c>KeepAlive:Policies</c>; an unknown name fails at startup.</param>
    /// <returns>The <paramref name="builder"/>.</returns>
    public static TBuilder WithKeepAlivePolicy<TBuilder>(this TBuilder builder, string policyName) where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(policyName);
        return builder.WithMetadata(new KeepAlivePolicyAttribute(policyName));
    }

    /// <summary>
    /// Applies the keepalive policies of routes (<see cref="WithKeepAlivePolicy"/>,
    /// <see cref="KeepAlivePolicyAttribute"/>) to the connections of their requests. Call it after routing
    /// (a <c>WebApplication</c> routes first by itself). Needs <c>builder.UseKeepAlivePolicy()</c>.
    /// </summary>
    /// <param name="app">The application.</param>
    /// <returns>The <paramref name="app"/>.</returns>
    public static IApplicationBuilder UseKeepAliveRoutePolicies(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        // Not the policies themselves: resolving them here would validate the options here, in Program.cs, as a raw
        // exception, instead of in StartAsync with every other startup failure.
        if (app.ApplicationServices.GetService<KeepAlivePolicyReferences>() is not { } references)
            throw new InvalidOperationException(Microsoft.AspNetCore.Hosting.KeepAliveListenOptionsExtensions.NotRegistered("app.UseKeepAliveRoutePolicies()"));
        // A WebApplication's routes, for validation when the host starts (see KeepAlivePolicyReferences).
        if (app is IEndpointRouteBuilder routes)
            references.AddRoutes(routes.DataSources);
        return app.UseMiddleware<KeepAliveRoutePolicyMiddleware>();
    }
}
