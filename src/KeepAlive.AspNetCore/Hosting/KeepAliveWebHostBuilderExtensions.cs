using KeepAlive.AspNetCore;

namespace Microsoft.AspNetCore.Hosting;

/// <summary>Adds the TCP keepalive policy to a web host's Kestrel server.</summary>
public static class KeepAliveWebHostBuilderExtensions
{
    /// <summary>
    /// Applies the keepalive policy from the <c>KeepAlive</c> configuration section to every TCP
    /// connection Kestrel accepts, on every endpoint. Invalid configuration fails at startup.
    /// </summary>
    /// <param name="builder">The web host builder; Kestrel must already be its server.</param>
    /// <returns>The <paramref name="builder"/>.</returns>
    public static IWebHostBuilder UseKeepAlivePolicy(this IWebHostBuilder builder) =>
        UseKeepAlivePolicy(builder, configure: null);

    /// <summary>
    /// Applies the keepalive policy to every TCP connection Kestrel accepts, on every endpoint:
    /// the <c>KeepAlive</c> configuration section first, then <paramref name="configure"/>.
    /// </summary>
    /// <param name="builder">The web host builder; Kestrel must already be its server.</param>
    /// <param name="configure">Changes the policy after configuration was read.</param>
    /// <returns>The <paramref name="builder"/>.</returns>
    public static IWebHostBuilder UseKeepAlivePolicy(this IWebHostBuilder builder, Action<KeepAliveOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.ConfigureServices(services => services.AddKeepAlivePolicy(configure));
    }
}
