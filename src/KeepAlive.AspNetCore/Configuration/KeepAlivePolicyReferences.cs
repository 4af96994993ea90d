using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The places that name a policy, for validation to check with the rest of the configuration: routes
/// (<see cref="IKeepAlivePolicyMetadata"/>) when the host starts and on reload, endpoints in code
/// (<c>listenOptions.UseKeepAlivePolicy("name")</c>, known once Kestrel has bound them) on reload.
/// </summary>
/// <remarks>
/// A <c>WebApplication</c> hands its routes to the routing services only when it builds its pipeline, after the
/// host validated the options; <c>app.UseKeepAliveRoutePolicies()</c> therefore registers the app's own route
/// collection here, which holds every route by the time the host starts.
/// </remarks>
internal sealed class KeepAlivePolicyReferences(IServiceProvider services)
{
    private readonly List<ICollection<EndpointDataSource>> _appRoutes = [];
    private readonly HashSet<(string Where, string Policy)> _code = [];

    /// <summary>Adds an app's route collection (<c>IEndpointRouteBuilder.DataSources</c>), read as it is when asked.</summary>
    public void AddRoutes(ICollection<EndpointDataSource> routes)
    {
        lock (_appRoutes)
            _appRoutes.Add(routes);
    }

    /// <summary>Records that code names a policy (<paramref name="where"/>: an endpoint).</summary>
    public void Add(string where, string policy)
    {
        lock (_code)
            _code.Add((where, policy));
    }

    /// <summary>Each route that names a policy: where (as startup reports it) and which policy.</summary>
    public List<(string Where, string Policy)> Routes()
    {
        List<EndpointDataSource> sources;
        lock (_appRoutes)
            sources = [.. _appRoutes.SelectMany(routes => routes)];
        if (services.GetService<EndpointDataSource>() is { } routing)
            sources.Add(routing);
        // The same route may be in both (the app's collection is handed on to routing), under new Endpoint objects.
        return sources
            .SelectMany(source => source.Endpoints)
            .Select(e => (Where: $"The endpoint '{e.DisplayName}'", Policy: e.Metadata.GetMetadata<IKeepAlivePolicyMetadata>()?.PolicyName!))
            .Where(e => e.Policy is not null)
            .Distinct()
            .ToList();
    }

    /// <summary>The messages for the places that name a policy <paramref name="options"/> lack.</summary>
    public IEnumerable<string> Unknown(KeepAliveOptions options)
    {
        List<(string Where, string Policy)> code;
        lock (_code)
            code = [.. _code];
        return Routes().Concat(code)
            .Where(r => !KeepAliveOptionsValidator.IsPolicy(options, r.Policy))
            .Select(r => KeepAliveOptionsValidator.UnknownPolicy(r.Where, r.Policy, options));
    }
}
