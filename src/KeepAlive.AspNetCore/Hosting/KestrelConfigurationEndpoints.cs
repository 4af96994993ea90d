using System.Reflection;
using Microsoft.AspNetCore.Server.Kestrel;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace KeepAlive.AspNetCore;

/// <summary>
/// Kestrel's configuration endpoints (<c>Kestrel:Endpoints</c>), the only names <c>KeepAlive:Endpoints</c> may map:
/// the names Kestrel read at startup, the section as it is now, and whether the app's own callbacks for them could be
/// seen. Read when Kestrel's options are built; checked when the options are validated (at startup and on reload).
/// </summary>
internal sealed class KestrelConfigurationEndpoints(ILoggerFactory loggerFactory)
{
    // The loader keeps one callback per endpoint name, and Endpoint(name, ...) replaces the app's own
    // (kestrel.Configure(section).Endpoint("Api", ...), the documented way to finish a configuration endpoint in
    // code), which it keeps privately (dotnet/aspnetcore, KestrelConfigurationLoader.EndpointConfigurations).
    private static readonly PropertyInfo? EndpointConfigurations =
        typeof(KestrelConfigurationLoader).GetProperty("EndpointConfigurations", BindingFlags.Instance | BindingFlags.NonPublic);

    private readonly ILogger _logger = loggerFactory.CreateLogger(KeepAliveLog.Category);
    private readonly HashSet<string> _warnedAddedAtRunTime = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The endpoint names Kestrel read at startup; <see langword="null"/> until Kestrel's options are built.</summary>
    public IReadOnlyCollection<string>? Names { get; set; }

    /// <summary>The <c>Kestrel:Endpoints</c> section, as it is now (it follows reloads).</summary>
    public IConfigurationSection? Configuration { get; set; }

    /// <summary>The configuration section that holds them.</summary>
    public string Section => Configuration?.Path is { Length: > 0 } path ? path : "Kestrel:Endpoints";

    /// <summary>
    /// Whether the app's own <c>Endpoint(name, ...)</c> callbacks could not be looked up, so the library left the
    /// configuration endpoints alone and <c>KeepAlive:Endpoints</c> cannot apply to them.
    /// </summary>
    public bool AppCallbacksHidden { get; set; }

    /// <summary>
    /// Looks up the app's own callbacks on Kestrel's loader, by endpoint name; <see langword="null"/> when this Kestrel
    /// does not let us. A test seam: a test makes it fail as a future Kestrel might.
    /// </summary>
    internal Func<KestrelConfigurationLoader, IDictionary<string, Action<EndpointConfiguration>>?> FindAppCallbacks { get; init; } =
        loader => EndpointConfigurations?.GetValue(loader) as IDictionary<string, Action<EndpointConfiguration>>;

    /// <summary>
    /// The messages for the names in <paramref name="mapped"/> that cannot be applied: any name, when the app's
    /// callbacks are hidden; else a name neither among the endpoints Kestrel read at startup nor in <c>Kestrel:Endpoints</c>
    /// now (a typo). A name only in <c>Kestrel:Endpoints</c> now, added by a reload, is not refused: see
    /// <see cref="WarnOfEndpointsAddedAtRunTime"/>.
    /// </summary>
    public List<string> Unknown(IEnumerable<string> mapped)
    {
        if (Names is not { } names)
            return [];
        if (AppCallbacksHidden)
        {
            return mapped.Select(name =>
                $"{KeepAliveOptions.SectionName}:{nameof(KeepAliveOptions.Endpoints)}:{name} maps the Kestrel endpoint '{name}', but this Kestrel version " +
                $"does not let the library see the app's own callbacks for its configuration endpoints (kestrel.Configure().Endpoint(name, ...)), " +
                $"and replacing them could drop the app's settings (HTTPS, client certificates); map the endpoint in code instead: " +
                $"kestrel.Configure().Endpoint(\"{name}\", e => e.ListenOptions.UseKeepAlivePolicy(\"<policy>\")), and remove {KeepAliveOptions.SectionName}:{nameof(KeepAliveOptions.Endpoints)}:{name}")
                .ToList();
        }
        var mappedNames = mapped.ToList();
        return [
            .. KeepAliveOptionsValidator.UnknownEndpoints(mappedNames.Where(name => !Current().Contains(name, StringComparer.OrdinalIgnoreCase)), names, Section),
            .. mappedNames.Where(IsWithoutTcp).Select(name =>
                $"{KeepAliveOptions.SectionName}:{nameof(KeepAliveOptions.Endpoints)}:{name} maps the Kestrel endpoint '{name}', whose Url " +
                $"'{Configuration?.GetSection(name)["Url"]}' is a Unix domain socket or a named pipe: it has no TCP connections, and no policy applies there; " +
                $"remove {KeepAliveOptions.SectionName}:{nameof(KeepAliveOptions.Endpoints)}:{name}"),
        ];
    }

    // Kestrel's Url forms for a Unix domain socket (http://unix:/path) and a named pipe (http://pipe:/name).
    private bool IsWithoutTcp(string endpointName) =>
        Configuration?.GetSection(endpointName)["Url"] is { } url &&
        (url.Contains("://unix:", StringComparison.OrdinalIgnoreCase) || url.Contains("://pipe:", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Logs, once per name, that a mapped endpoint was added to <c>Kestrel:Endpoints</c> after startup: Kestrel reads
    /// its endpoints' callbacks at startup only, so the mapping takes effect after a restart.
    /// </summary>
    public void WarnOfEndpointsAddedAtRunTime(IEnumerable<string> mapped)
    {
        if (Names is not { } names)
            return;
        foreach (var name in mapped.Where(name => !names.Contains(name, StringComparer.OrdinalIgnoreCase)))
        {
            lock (_warnedAddedAtRunTime)
            {
                if (!_warnedAddedAtRunTime.Add(name))
                    continue;
            }
            KeepAliveLog.EndpointAddedAtRunTime(_logger, $"{KeepAliveOptions.SectionName}:{nameof(KeepAliveOptions.Endpoints)}:{name}", name, Section);
        }
    }

    /// <summary>Logs that <c>KeepAlive:Endpoints</c> cannot apply to the configuration endpoints (the app's callbacks are hidden).</summary>
    public void WarnOfHiddenAppCallbacks() => KeepAliveLog.EndpointCallbacksHidden(_logger, Section);

    private IEnumerable<string> Current() => Configuration?.GetChildren().Select(e => e.Key) ?? [];
}
