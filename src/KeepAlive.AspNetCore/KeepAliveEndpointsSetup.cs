using Microsoft.AspNetCore.Hosting;
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
/// per connection, so a reload that maps a named endpoint to another policy takes effect at once.
/// </remarks>
internal sealed class KeepAliveEndpointsSetup(IConfiguration configuration) : IPostConfigureOptions<KestrelServerOptions>
{
    public void PostConfigure(string? name, KestrelServerOptions options)
    {
        if (options.ConfigurationLoader is not { } loader)
            return;
        foreach (var endpoint in configuration.GetSection($"{KeepAliveOptions.SectionName}:{nameof(KeepAliveOptions.Endpoints)}").GetChildren())
        {
            var endpointName = endpoint.Key;
            loader.Endpoint(endpointName, e => e.ListenOptions.UseKeepAliveEndpointPolicy(endpointName));
        }
    }
}
