using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The policies in force (the default one and the named ones) and the TCP connections they are applied
/// to. When configuration changes, the policies are rebuilt: valid new values reach new connections at
/// once and are applied again to the open ones; invalid ones are logged and the last good policies stay.
/// </summary>
internal sealed class KeepAlivePolicies : IDisposable
{
    private readonly IOptionsFactory<KeepAliveOptions> _factory;
    private readonly KeepAliveMetrics _metrics;
    private readonly ILogger _logger;
    private readonly IDisposable _reloads;
    private readonly Lock _lock = new();
    private readonly KestrelConfigurationEndpoints _kestrelEndpoints;
    private readonly ApplicationTimers _timers;
    private readonly IHostApplicationLifetime? _host;
    private volatile bool _disposed;
    private volatile PolicySet _current;

    public KeepAlivePolicies(IOptions<KeepAliveOptions> options, IOptionsFactory<KeepAliveOptions> factory, IConfiguration configuration,
        KestrelConfigurationEndpoints kestrelEndpoints, KeepAliveOptionsValidator validator, KeepAliveMetrics metrics, ILoggerFactory loggerFactory, IServiceProvider services)
    {
        // Built when Kestrel binds, after it read its configuration endpoints, which startup's validation could not check.
        validator.ThrowIfInvalid(options.Value);
        _kestrelEndpoints = kestrelEndpoints;
        _factory = factory;
        _metrics = metrics;
        _logger = loggerFactory.CreateLogger(KeepAliveLog.Category);
        // Built when Kestrel binds: Kestrel's, SignalR's and the WebSockets' options are final by then.
        _timers = ApplicationTimers.Read(services);
        _host = services.GetService<IHostApplicationLifetime>();
        _current = Build(options.Value, previous: null);
        metrics.CreateSilenceHistogram(ExpectedSilences(_current));
        if (kestrelEndpoints.AppCallbacksHidden)
            kestrelEndpoints.WarnOfHiddenAppCallbacks();
        _reloads = ChangeToken.OnChange(configuration.GetReloadToken, Reload);
        foreach (var (path, target) in LinkedConfigurationFiles.Find(configuration))
            KeepAliveLog.ConfigurationFileNotWatched(_logger, path, target);
        // keepalive.connections reads the open connections, and only when the meter is collected.
        metrics.ObserveConnections(new KeepAliveConnectionGauge(Open).Collect);
    }

    /// <summary>The default policy: every TCP connection gets it at accept.</summary>
    public KeepAlivePolicy Default => _current.Default;

    /// <summary>The named policy, or <see langword="null"/>.</summary>
    public KeepAlivePolicy? Find(string name) =>
        name.Equals(KeepAlivePolicy.DefaultName, StringComparison.OrdinalIgnoreCase) ? _current.Default : _current.Named.GetValueOrDefault(name);

    /// <summary>The policy <c>KeepAlive:Endpoints</c> maps the Kestrel endpoint to, or <see langword="null"/>.</summary>
    public KeepAlivePolicy? ForEndpoint(string endpointName) =>
        _current.Options.Endpoints.TryGetValue(endpointName, out var name) ? Find(name) : null;

    /// <summary>The options the policies were built from.</summary>
    public KeepAliveOptions Options => _current.Options;

    /// <summary>The connections open under these policies.</summary>
    public OpenConnections Open { get; } = new();

    public void Dispose()
    {
        _disposed = true;
        _reloads.Dispose();
    }

    /// <summary>
    /// Applies a configuration change. Runs on the file watcher's thread, where an exception would end the process: a
    /// reload that meets the host shutting down (its services disposed under it) stops quietly, and anything else
    /// unexpected is logged with the last good policies kept.
    /// </summary>
    internal void Reload()
    {
        if (_disposed)
            return;
        try
        {
            ApplyReload();
        }
        catch (ObjectDisposedException)
        {
            // The host is shutting down: its policies no longer matter.
        }
        catch (Exception ex)
        {
            KeepAliveLog.ReloadFailed(_logger, ex);
        }
    }

    private void ApplyReload()
    {
        KeepAliveOptions options;
        try
        {
            options = _factory.Create(Microsoft.Extensions.Options.Options.DefaultName);
        }
        catch (OptionsValidationException ex)
        {
            // The validator's: including a policy code or a route names that the new configuration drops.
            KeepAliveLog.ReloadRejected(_logger, string.Join(Environment.NewLine, ex.Failures));
            return;
        }
        if (PolicyValues.SameConfiguration(options, _current.Options))
            return; // another part of the configuration changed

        // Policies whose values did not change are kept as they are: not stated again, not applied again.
        var next = Build(options, _current);
        _kestrelEndpoints.WarnOfEndpointsAddedAtRunTime(options.Endpoints.Keys);
        // Put in force under the list's lock: a connection linked after it reads the new policies itself.
        var open = Open.Swap(() => _current = next);
        foreach (var connection in open)
            connection.ReapplyPolicy();
        KeepAliveLog.PolicyReloaded(_logger, open.Count);
    }

    private PolicySet Build(KeepAliveOptions options, PolicySet? previous)
    {
        // Read again on reload: the retransmission limit is the kernel's, and an operator may have changed it.
        var kernel = TcpKernelSettings.Read();
        var named = new Dictionary<string, KeepAlivePolicy>(StringComparer.OrdinalIgnoreCase);
        foreach (var name in options.Policies.Keys)
        {
            if (options.Resolve(name) is { } resolved)
                named[name] = Keep(previous?.Named.GetValueOrDefault(name), resolved, kernel) ??
                    KeepAlivePolicy.Create(name, resolved, _metrics, _logger, Open, $"{KeepAliveOptions.SectionName}:{nameof(options.Policies)}:{name}", kernel, _timers, _host);
        }
        var defaultOptions = options.ClonePolicy();
        var defaultPolicy = Keep(previous?.Default, defaultOptions, kernel) ??
            KeepAlivePolicy.Create(KeepAlivePolicy.DefaultName, defaultOptions, _metrics, _logger, Open, KeepAliveOptions.SectionName, kernel, _timers, _host);
        return new PolicySet(options, defaultPolicy, named);
    }

    // The silences after which a lost peer is let go: the bounds of the policies in force and of every preset (a reload
    // may name one), and the spans of the app's timers.
    private IEnumerable<TimeSpan> ExpectedSilences(PolicySet set)
    {
        var kernel = TcpKernelSettings.Read();
        var presets = KeepAlivePresets.Names.Select(preset =>
        {
            var options = new KeepAliveOptions();
            options.Policies[preset] = new KeepAlivePolicyOptions { Preset = preset };
            return KeepAliveBounds.For(options.Resolve(preset)!, kernel);
        });
        return set.Named.Values.Append(set.Default).Select(p => p.Bounds).Concat(presets)
            .SelectMany(b => new[] { b.SilentIdlePeer, b.UnacknowledgedData, b.StalledReader })
            .OfType<TimeSpan>()
            .Concat(_timers.All.Select(t => t.EndsAfter));
    }

    // The policy as it was when its values and bounds are the same.
    private static KeepAlivePolicy? Keep(KeepAlivePolicy? policy, KeepAliveOptions options, TcpKernelSettings kernel) =>
        policy is not null && PolicyValues.Of(policy.Options) == PolicyValues.Of(options) && policy.Bounds == KeepAliveBounds.For(options, kernel) ? policy : null;

    private sealed record PolicySet(KeepAliveOptions Options, KeepAlivePolicy Default, IReadOnlyDictionary<string, KeepAlivePolicy> Named);
}
