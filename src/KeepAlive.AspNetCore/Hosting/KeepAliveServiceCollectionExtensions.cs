using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Options;

namespace KeepAlive.AspNetCore;

/// <summary>The services behind <c>UseKeepAlivePolicy()</c>.</summary>
internal static class KeepAliveServiceCollectionExtensions
{

    public static IServiceCollection AddKeepAlivePolicy(this IServiceCollection services, Action<KeepAliveOptions>? configure)
    {
        services.AddOptions<KeepAliveOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<KeepAliveOptions>, KeepAliveOptionsSetup>());
        services.TryAddSingleton<KeepAlivePolicyReferences>();
        services.TryAddSingleton<KestrelConfigurationEndpoints>();
        services.TryAddSingleton<KeepAliveOptionsValidator>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KeepAliveOptions>, KeepAliveOptionsValidator>(sp => sp.GetRequiredService<KeepAliveOptionsValidator>()));
        if (configure is not null)
            services.Configure(configure);

        if (services.Any(d => d.ServiceType == typeof(KeepAlivePolicies)))
            return services; // called before: the transports are wrapped already

        services.AddMetrics();
        services.TryAddSingleton<KeepAliveMetrics>();
        services.AddSingleton<KeepAlivePolicies>();
        services.AddSingleton<IPostConfigureOptions<KestrelServerOptions>, KeepAliveEndpointsSetup>();
        services.AddSingleton(sp => new ListeningSockets(() => sp.GetRequiredService<KeepAlivePolicies>().Default));
        services.AddSingleton<IPostConfigureOptions<SocketTransportOptions>, KeepAliveListenSocketSetup>();

        var transports = services.Where(d => d.ServiceType == typeof(IConnectionListenerFactory) && !d.IsKeyedService).ToList();
        if (transports.Count == 0)
        {
            throw new InvalidOperationException(
                "UseKeepAlivePolicy() found no Kestrel transport to apply the policy to. Call it after UseKestrel() " +
                "(WebApplication.CreateBuilder and ConfigureWebHostDefaults call UseKestrel for you).");
        }
        foreach (var transport in transports)
        {
            services.Remove(transport);
            services.Add(ServiceDescriptor.Describe(
                typeof(IConnectionListenerFactory),
                sp => new KeepAliveListenerFactory((IConnectionListenerFactory)Create(sp, transport), sp.GetRequiredService<KeepAlivePolicies>, sp.GetRequiredService<ListeningSockets>()),
                transport.Lifetime));
        }
        return services;
    }

    private static object Create(IServiceProvider services, ServiceDescriptor descriptor) =>
        descriptor.ImplementationInstance
        ?? descriptor.ImplementationFactory?.Invoke(services)
        ?? ActivatorUtilities.CreateInstance(services, descriptor.ImplementationType!);
}
