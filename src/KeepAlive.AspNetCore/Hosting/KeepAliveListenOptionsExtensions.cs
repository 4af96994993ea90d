using System.Diagnostics.Metrics;
using KeepAlive.AspNetCore;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
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
            var services = listenOptions.ApplicationServices;
            // Without changes it is the app's default policy, and follows reloads like it.
            var policy = configure is null && services.GetService<KeepAlivePolicies>() is { } policies
                ? () => policies.Default
                : Constant(CreatePolicy(listenOptions, services, configure));
            return new KeepAliveConnectionMiddleware(next, policy, () => listenOptions.EndPoint).OnConnectionAsync;
        });
        return listenOptions;
    }

    /// <summary>
    /// Applies the named policy <paramref name="policyName"/> (<c>KeepAlive:Policies:&lt;name&gt;</c>) to the
    /// TCP connections this endpoint accepts; it takes precedence over the app-wide policy there and follows
    /// configuration reloads. Needs <c>UseKeepAlivePolicy()</c> on the host builder; a name that is not a
    /// policy fails when Kestrel starts.
    /// </summary>
    /// <param name="listenOptions">The endpoint.</param>
    /// <param name="policyName">The name of a policy in <c>KeepAlive:Policies</c>.</param>
    /// <returns>The <paramref name="listenOptions"/>.</returns>
    public static ListenOptions UseKeepAlivePolicy(this ListenOptions listenOptions, string policyName)
    {
        ArgumentNullException.ThrowIfNull(listenOptions);
        ArgumentException.ThrowIfNullOrEmpty(policyName);

        listenOptions.Use(next =>
        {
            var where = $"listenOptions.UseKeepAlivePolicy(\"{policyName}\")";
            var policies = RequirePolicies(listenOptions.ApplicationServices, where);
            // Recorded for every later validation (a reload that drops the policy is rejected), and checked now.
            listenOptions.ApplicationServices.GetRequiredService<KeepAlivePolicyReferences>().Add(where, policyName);
            listenOptions.ApplicationServices.GetRequiredService<KeepAliveOptionsValidator>().ThrowIfInvalid(policies.Options);
            return new KeepAliveConnectionMiddleware(next, () => policies.Find(policyName), () => listenOptions.EndPoint).OnConnectionAsync;
        });
        return listenOptions;
    }

    // A Kestrel configuration endpoint: KeepAlive:Endpoints may map it to a policy, at startup or by a reload.
    internal static ListenOptions UseKeepAliveEndpointMapping(this ListenOptions listenOptions, string endpointName)
    {
        listenOptions.Use(next =>
        {
            var policies = RequirePolicies(listenOptions.ApplicationServices, $"KeepAlive:Endpoints:{endpointName}");
            return new KeepAliveEndpointMappingMiddleware(next, policies, endpointName).OnConnectionAsync;
        });
        return listenOptions;
    }

    internal static KeepAlivePolicies RequirePolicies(IServiceProvider services, string caller) =>
        services.GetService<KeepAlivePolicies>() ?? throw new InvalidOperationException(NotRegistered(caller));

    internal static string NotRegistered(string caller) =>
        $"{caller} uses the named policies of the KeepAlive section: call builder.UseKeepAlivePolicy() (or webHostBuilder.UseKeepAlivePolicy()) first.";

    private static Func<KeepAlivePolicy?> Constant(KeepAlivePolicy policy) => () => policy;

    private static KeepAlivePolicy CreatePolicy(ListenOptions listenOptions, IServiceProvider services, Action<KeepAliveOptions>? configure)
    {
        var failures = new List<string>();
        KeepAliveOptions options;
        if (services.GetService<KeepAlivePolicies>() is { } policies)
        {
            options = policies.Default.Options.ClonePolicy();
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

        var logger = services.GetService<ILoggerFactory>()?.CreateLogger(KeepAliveLog.Category) ?? NullLogger.Instance;
        var metrics = services.GetService<KeepAliveMetrics>() ?? new KeepAliveMetrics(services.GetRequiredService<IMeterFactory>());
        var timers = ApplicationTimers.Read(services);
        var host = services.GetService<IHostApplicationLifetime>();
        // Named after the app-wide policy unless this endpoint changed it.
        var policy = configure is null
            ? KeepAlivePolicy.Create(KeepAlivePolicy.DefaultName, options, metrics, logger, timers: timers, host: host)
            : KeepAlivePolicy.Create("endpoint", options, metrics, logger, section: $"listenOptions.UseKeepAlivePolicy(options => ...) on {listenOptions.EndPoint}", timers: timers, host: host);
        // Without the app-wide registration, the first policy places the silence histogram's boundaries.
        metrics.CreateSilenceHistogram(new[] { policy.Bounds.SilentIdlePeer, policy.Bounds.UnacknowledgedData, policy.Bounds.StalledReader }.OfType<TimeSpan>().Concat(timers.All.Select(t => t.EndsAfter)));
        return policy;
    }
}
