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
        // its socket feature; a connection that already has the policy costs nothing more.
        if (context.GetEndpoint()?.Metadata.GetMetadata<IKeepAlivePolicyMetadata>() is { } metadata &&
            context.Features.Get<IConnectionSocketFeature>() is KeepAliveConnection connection &&
            !connection.Policy.Name.Equals(metadata.PolicyName, StringComparison.OrdinalIgnoreCase) &&
            _policies.Find(metadata.PolicyName) is { } policy)
        {
            policy.ApplyTo(connection);
        }
        return _next(context);
    }
}
