using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

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
        // The endpoints are all mapped by the time the pipeline is built: a route naming a policy that does
        // not exist fails at startup, not at its first request; a reload that drops such a policy is rejected.
        if (services.GetService(typeof(EndpointDataSource)) is EndpointDataSource endpoints)
        {
            var references = endpoints.Endpoints
                .Select(e => (Where: $"The endpoint '{e.DisplayName}'", e.Metadata.GetMetadata<IKeepAlivePolicyMetadata>()?.PolicyName))
                .Where(e => e.PolicyName is not null)
                .ToList();
            var failures = references
                .Where(e => !policies.Contains(e.PolicyName!))
                .Select(e => KeepAliveOptionsValidator.UnknownPolicy(e.Where, e.PolicyName!, policies.Options))
                .ToList();
            if (failures.Count > 0)
                throw new OptionsValidationException(Options.DefaultName, typeof(KeepAliveOptions), failures);
            foreach (var (where, policy) in references)
                policies.Reference(where, policy!);
        }
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
                connection.UsePolicyFrom(source);
        }
        return _next(context);
    }
}
