using System.Reflection;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace KeepAlive.AspNetCore;

/// <summary>
/// Gives the Kestrel endpoints that <c>KeepAlive:Endpoints</c> names (endpoints of <c>Kestrel:Endpoints</c>)
/// their policy, through Kestrel's configuration loader.
/// </summary>
/// <remarks>
/// Which policy an endpoint gets is looked up per connection, so a reload that maps an endpoint to
/// another policy takes effect at once, on its open connections too. Every endpoint of
/// <c>Kestrel:Endpoints</c> is watched (an unmapped one costs a dictionary lookup per connection), so an
/// endpoint a reload newly maps gets its policy at once as well, as long as the app's own callbacks can be
/// kept; otherwise only the endpoints mapped at startup are watched.
/// </remarks>
internal sealed class KeepAliveEndpointsSetup(IConfiguration configuration) : IPostConfigureOptions<KestrelServerOptions>
{
    // The loader keeps one callback per endpoint name, and Endpoint(name, ...) replaces the app's own
    // (kestrel.Configure(section).Endpoint("Api", ...), the documented way to finish a configuration endpoint in
    // code), which it keeps privately (dotnet/aspnetcore, KestrelConfigurationLoader.EndpointConfigurations).
    // Read it to run it first; should a later Kestrel lose the property, the app's callback is replaced as before.
    private static readonly PropertyInfo? EndpointConfigurations =
        typeof(KestrelConfigurationLoader).GetProperty("EndpointConfigurations", BindingFlags.Instance | BindingFlags.NonPublic);

    public void PostConfigure(string? name, KestrelServerOptions options)
    {
        if (options.ConfigurationLoader is not { } loader)
            return;
        var appCallbacks = EndpointConfigurations?.GetValue(loader) as IDictionary<string, Action<EndpointConfiguration>>;
        var mapped = configuration.GetSection($"{KeepAliveOptions.SectionName}:{nameof(KeepAliveOptions.Endpoints)}").GetChildren().Select(e => e.Key);
        // Watching an endpoint must never cost the app its own callback: all of them only when it is kept.
        var watched = appCallbacks is null
            ? mapped
            : mapped.Concat(loader.Configuration.GetSection("Endpoints").GetChildren().Select(e => e.Key));
        foreach (var endpointName in watched.Distinct(StringComparer.OrdinalIgnoreCase).ToList())
        {
            Action<EndpointConfiguration>? appCallback = null;
            appCallbacks?.TryGetValue(endpointName, out appCallback);
            loader.Endpoint(endpointName, e =>
            {
                appCallback?.Invoke(e);
                e.ListenOptions.UseKeepAliveEndpointPolicy(endpointName);
            });
        }
    }
}
