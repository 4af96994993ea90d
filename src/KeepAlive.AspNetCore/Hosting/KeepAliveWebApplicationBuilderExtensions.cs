using KeepAlive.AspNetCore;
using Microsoft.AspNetCore.Hosting;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds the TCP keepalive policy to a <see cref="WebApplicationBuilder"/>.</summary>
public static class KeepAliveWebApplicationBuilderExtensions
{
    /// <summary>
    /// Applies the keepalive policy from the <c>KeepAlive</c> configuration section to every TCP
    /// connection Kestrel accepts, on every endpoint. Invalid configuration fails at startup.
    /// </summary>
    /// <param name="builder">The application builder.</param>
    /// <returns>The <paramref name="builder"/>.</returns>
    public static WebApplicationBuilder UseKeepAlivePolicy(this WebApplicationBuilder builder) =>
        UseKeepAlivePolicy(builder, configure: null);

    /// <summary>
    /// Applies the keepalive policy to every TCP connection Kestrel accepts, on every endpoint:
    /// the <c>KeepAlive</c> configuration section first, then <paramref name="configure"/>.
    /// </summary>
    /// <param name="builder">The application builder.</param>
    /// <param name="configure">Changes the policy after configuration was read.</param>
    /// <returns>The <paramref name="builder"/>.</returns>
    public static WebApplicationBuilder UseKeepAlivePolicy(this WebApplicationBuilder builder, Action<KeepAliveOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.WebHost.UseKeepAlivePolicy(configure);
        return builder;
    }
}
