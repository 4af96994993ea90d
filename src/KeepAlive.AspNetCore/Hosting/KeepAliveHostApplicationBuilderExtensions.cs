using KeepAlive.AspNetCore;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Adds the TCP keepalive policy through an <see cref="IHostApplicationBuilder"/>, the builder an Aspire
/// ServiceDefaults project configures every service with (<c>builder.AddServiceDefaults()</c>).
/// </summary>
public static class KeepAliveHostApplicationBuilderExtensions
{
    /// <summary>
    /// Applies the keepalive policy from the <c>KeepAlive</c> configuration section to every TCP connection
    /// Kestrel accepts, on every endpoint, as <c>WebApplicationBuilder.UseKeepAlivePolicy()</c> does (same section,
    /// same validation: invalid configuration fails at startup). On a host without Kestrel (a worker service
    /// sharing the ServiceDefaults project) it does nothing: no section is read, nothing is validated.
    /// </summary>
    /// <remarks>
    /// Call it after Kestrel is added: <c>WebApplication.CreateBuilder</c> and <c>CreateSlimBuilder</c> add it before
    /// any of the app's code runs; <c>CreateEmptyBuilder</c> needs <c>builder.WebHost.UseKestrelCore()</c> first. A host
    /// that gets Kestrel only after this call fails when Kestrel is created (at <c>Build()</c> for a <c>WebApplication</c>)
    /// with a message saying so, rather than serve without the policy.
    /// </remarks>
    /// <typeparam name="TBuilder">The builder's type, kept for chaining (a <c>WebApplicationBuilder</c> stays one).</typeparam>
    /// <param name="builder">The host's builder.</param>
    /// <returns>The <paramref name="builder"/>.</returns>
    public static TBuilder UseKeepAlivePolicy<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder =>
        UseKeepAlivePolicy(builder, configure: null);

    /// <summary>
    /// Applies the keepalive policy to every TCP connection Kestrel accepts, on every endpoint: the <c>KeepAlive</c>
    /// configuration section first, then <paramref name="configure"/>, as <c>WebApplicationBuilder.UseKeepAlivePolicy(configure)</c>
    /// does. On a host without Kestrel it does nothing (see <see cref="UseKeepAlivePolicy{TBuilder}(TBuilder)"/>).
    /// </summary>
    /// <typeparam name="TBuilder">The builder's type, kept for chaining.</typeparam>
    /// <param name="builder">The host's builder.</param>
    /// <param name="configure">Changes the policy after configuration was read.</param>
    /// <returns>The <paramref name="builder"/>.</returns>
    public static TBuilder UseKeepAlivePolicy<TBuilder>(this TBuilder builder, Action<KeepAliveOptions>? configure) where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        if (services.Any(d => d.ServiceType == typeof(IConnectionListenerFactory) && !d.IsKeyedService))
        {
            services.AddKeepAlivePolicy(configure);
            return builder;
        }

        // No Kestrel transport: a non-web service, or a web host that gets Kestrel later. The change is kept for a
        // registration that may follow; a Kestrel created without one fails (KestrelAddedAfterPolicy).
        if (configure is not null)
            services.Configure(configure);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<KestrelServerOptions>, KestrelAddedAfterPolicy>());
        return builder;
    }

    /// <summary>
    /// Runs only if Kestrel builds its options, which a host without Kestrel never does: Kestrel came after the call
    /// that found no transport, and no later registration (<c>builder.WebHost.UseKeepAlivePolicy()</c>) made up for it.
    /// </summary>
    /// <remarks>
    /// It asks whether the policies are registered, never for them: building them reads Kestrel's options
    /// (<see cref="ApplicationTimers"/>), whose post-configuration this is.
    /// </remarks>
    private sealed class KestrelAddedAfterPolicy(IServiceProviderIsService registrations) : IPostConfigureOptions<KestrelServerOptions>
    {
        public void PostConfigure(string? name, KestrelServerOptions options)
        {
            if (registrations.IsService(typeof(KeepAlivePolicies)))
                return;
            throw new InvalidOperationException(
                "UseKeepAlivePolicy() was called on the host builder before Kestrel was added to it, so no connection would get " +
                "the keepalive policy. Call it after Kestrel is added (WebApplication.CreateBuilder and CreateSlimBuilder add it " +
                "for you; after CreateEmptyBuilder, call builder.WebHost.UseKestrelCore() first), e.g. call AddServiceDefaults() " +
                "after UseKestrelCore().");
        }
    }
}
