using System.Diagnostics.Metrics;
using KeepAlive.AspNetCore;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Microsoft.AspNetCore.Hosting;

/// <summary>Adds the TCP keepalive policy to one Kestrel endpoint.</summary>
public static class KeepAliveListenOptionsExtensions
{
    /// <summary>
    /// Applies the app's keepalive policy to the TCP connections this endpoint accepts: the policy
    /// <c>UseKeepAlivePolicy()</c> registered, or else the <c>KeepAlive</c> configuration section.
    /// </summary>
    /// <param name="listenOptions">The endpoint.</param>
    /// <returns>The <paramref name="listenOptions"/>.</returns>
    public static ListenOptions UseKeepAlivePolicy(this ListenOptions listenOptions) =>
        UseKeepAlivePolicy(listenOptions, configure: null);

    /// <summary>
    /// Applies a keepalive policy to the TCP connections this endpoint accepts: the app's policy
    /// (see <see cref="UseKeepAlivePolicy(ListenOptions)"/>), changed by <paramref name="configure"/>.
    /// It takes precedence over the app-wide policy on this endpoint. An invalid policy fails when
    /// Kestrel starts.
    /// </summary>
    /// <param name="listenOptions">The endpoint.</param>
    /// <param name="configure">Changes the policy for this endpoint.</param>
    /// <returns>The <paramref name="listenOptions"/>.</returns>
    public static ListenOptions UseKeepAlivePolicy(this ListenOptions listenOptions, Action<KeepAliveOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(listenOptions);

        // Runs when Kestrel builds the endpoint at startup, once every service is available.
        listenOptions.Use(next =>
        {
            var policy = CreatePolicy(listenOptions.ApplicationServices, configure);
            return new KeepAliveConnectionMiddleware(next, policy, () => listenOptions.EndPoint).OnConnectionAsync;
        });
        return listenOptions;
    }

    private static KeepAlivePolicy CreatePolicy(IServiceProvider services, Action<KeepAliveOptions>? configure)
    {
        var failures = new List<string>();
        KeepAliveOptions options;
        if (services.GetService<KeepAlivePolicy>() is { } appPolicy)
        {
            options = appPolicy.Options.Clone();
        }
        else
        {
            options = new KeepAliveOptions();
            if (services.GetService<IConfiguration>() is { } configuration)
                KeepAliveConfiguration.Bind(configuration.GetSection(KeepAliveOptions.SectionName), options, failures);
        }
        configure?.Invoke(options);

        failures.AddRange(KeepAliveOptionsValidator.Validate(options, KeepAliveOptions.SectionName));
        if (failures.Count > 0)
            throw new OptionsValidationException(Options.DefaultName, typeof(KeepAliveOptions), failures);

        var logger = services.GetService<ILoggerFactory>()?.CreateLogger(KeepAliveServiceCollectionExtensions.LoggerCategory) ?? NullLogger.Instance;
        var metrics = services.GetService<KeepAliveMetrics>() ?? new KeepAliveMetrics(services.GetRequiredService<IMeterFactory>());
        // Named after the app-wide policy unless this endpoint changed it.
        return KeepAlivePolicy.Create(configure is null ? KeepAlivePolicy.DefaultName : "endpoint", options, metrics, logger);
    }
}
