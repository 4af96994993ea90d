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
/// The names are read from configuration as it is at startup; which policy each one gets is looked up
/// per connection, so a reload that maps a named endpoint to another policy takes effect at once, on its
/// open connections too. An endpoint a reload adds to <c>KeepAlive:Endpoints</c> gets its policy at the next start.
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
        foreach (var endpoint in configuration.GetSection($"{KeepAliveOptions.SectionName}:{nameof(KeepAliveOptions.Endpoints)}").GetChildren())
        {
            var endpointName = endpoint.Key;
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
