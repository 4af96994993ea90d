using System.Reflection;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace KeepAlive.AspNetCore;

/// <summary>
/// Gives the Kestrel configuration endpoints (<c>Kestrel:Endpoints</c>) the policy <c>KeepAlive:Endpoints</c>
/// maps them to, through Kestrel's configuration loader, and records their names (a name in <c>KeepAlive:Endpoints</c>
/// that Kestrel lacks fails when the policies are built).
/// </summary>
/// <remarks>
/// Every configuration endpoint gets the mapping middleware, mapped or not: which policy it maps to is
/// looked up per connection and again on reload, so a reload that maps, remaps or unmaps an endpoint takes
/// effect at once, on its open connections too.
/// </remarks>
internal sealed class KeepAliveEndpointsSetup(KestrelConfigurationEndpoints known) : IPostConfigureOptions<KestrelServerOptions>
{
    // The loader keeps one callback per endpoint name, and Endpoint(name, ...) replaces the app's own
    // (kestrel.Configure(section).Endpoint("Api", ...), the documented way to finish a configuration endpoint in
    // code), which it keeps privately (dotnet/aspnetcore, KestrelConfigurationLoader.EndpointConfigurations).
    // Read it to run it first; should a later Kestrel lose the property, the app's callback is replaced as before.
    private static readonly PropertyInfo? EndpointConfigurations =
        typeof(KestrelConfigurationLoader).GetProperty("EndpointConfigurations", BindingFlags.Instance | BindingFlags.NonPublic);

    public void PostConfigure(string? name, KestrelServerOptions options)
    {
        var kestrelEndpoints = options.ConfigurationLoader?.Configuration.GetSection("Endpoints");
        var endpointNames = kestrelEndpoints?.GetChildren().Select(e => e.Key).ToList() ?? [];
        known.Names = endpointNames;
        if (kestrelEndpoints?.Path is { Length: > 0 } path)
            known.Section = path;

        if (options.ConfigurationLoader is not { } loader)
            return;
        var appCallbacks = EndpointConfigurations?.GetValue(loader) as IDictionary<string, Action<EndpointConfiguration>>;
        foreach (var endpointName in endpointNames)
        {
            Action<EndpointConfiguration>? appCallback = null;
            appCallbacks?.TryGetValue(endpointName, out appCallback);
            loader.Endpoint(endpointName, e =>
            {
                // The app's own policy for the endpoint comes first: the mapping overrides it only while mapped.
                appCallback?.Invoke(e);
                e.ListenOptions.UseKeepAliveEndpointMapping(endpointName);
            });
        }
    }
}
