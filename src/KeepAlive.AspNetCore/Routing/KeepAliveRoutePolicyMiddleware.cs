using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The middleware <c>app.UseKeepAliveRoutePolicies()</c> adds: when a request reaches an endpoint with
/// <see cref="IKeepAlivePolicyMetadata"/>, its connection gets that policy, for as long as it lives.
/// </summary>
internal sealed class KeepAliveRoutePolicyMiddleware
{
    private readonly RequestDelegate _next;
    private readonly KeepAlivePolicies _policies;
    // One source per policy name: the connection remembers it, so a reload re-applies the route's policy, not
    // what the endpoint is mapped to.
    private readonly ConcurrentDictionary<string, Func<KeepAlivePolicy?>> _sources = new(StringComparer.OrdinalIgnoreCase);

    public KeepAliveRoutePolicyMiddleware(RequestDelegate next, KeepAlivePolicies policies, IServiceProvider services)
    {
        _next = next;
        _policies = policies;
        // Validation checked the routes of a WebApplication when the host started. Routes mapped in a Startup class's
        // Configure are mapped only now, as the pipeline is built (still in StartAsync): check those here.
        services.GetRequiredService<KeepAliveOptionsValidator>().ThrowIfInvalid(policies.Options);
    }

    public Task InvokeAsync(HttpContext context)
    {
        // The connection features (which HttpContext.Features falls back to) hold the tracked connection as
        // its transport feature; a connection that already has the route's policy costs a lookup more.
        if (context.GetEndpoint()?.Metadata.GetMetadata<IKeepAlivePolicyMetadata>() is { } metadata &&
            context.Features.Get<IConnectionTransportFeature>() is KeepAliveConnection connection)
        {
            var source = _sources.GetOrAdd(metadata.PolicyName, static (name, policies) => () => policies.Find(name), _policies);
            if (connection.PolicySource != source)
                connection.FollowPolicy(source);
        }
        return _next(context);
    }
}
