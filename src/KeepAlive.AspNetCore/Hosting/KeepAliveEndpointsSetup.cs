using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace KeepAlive.AspNetCore;

/// <summary>
/// Gives the Kestrel configuration endpoints (<c>Kestrel:Endpoints</c>) the policy <c>KeepAlive:Endpoints</c>
/// maps them to, through Kestrel's configuration loader, and records their names (a name in <c>KeepAlive:Endpoints</c>
/// that Kestrel lacks fails validation).
/// </summary>
/// <remarks>
/// Every configuration endpoint gets the mapping middleware, mapped or not: which policy it maps to is
/// looked up per connection and again on reload, so a reload that maps, remaps or unmaps an endpoint takes
/// effect at once, on its open connections too.
/// </remarks>
internal sealed class KeepAliveEndpointsSetup(KestrelConfigurationEndpoints known) : IPostConfigureOptions<KestrelServerOptions>
{
    public void PostConfigure(string? name, KestrelServerOptions options)
    {
        var kestrelEndpoints = options.ConfigurationLoader?.Configuration.GetSection("Endpoints");
        var endpointNames = kestrelEndpoints?.GetChildren().Select(e => e.Key).ToList() ?? [];
        known.Names = endpointNames;
        known.Configuration = kestrelEndpoints;

        if (options.ConfigurationLoader is not { } loader || endpointNames.Count == 0)
            return;
        if (known.FindAppCallbacks(loader) is not { } appCallbacks)
        {
            // Endpoint(name, ...) would replace a callback of the app's that we cannot see (its HTTPS settings, say):
            // leave the endpoints to the app. Validation refuses a KeepAlive:Endpoints that maps one.
            known.AppCallbacksHidden = true;
            return;
        }
        foreach (var endpointName in endpointNames)
        {
            appCallbacks.TryGetValue(endpointName, out var appCallback);
            loader.Endpoint(endpointName, e =>
            {
                // The app's own policy for the endpoint comes first: the mapping overrides it only while mapped.
                appCallback?.Invoke(e);
                e.ListenOptions.UseKeepAliveEndpointMapping(endpointName);
            });
        }
    }
}
