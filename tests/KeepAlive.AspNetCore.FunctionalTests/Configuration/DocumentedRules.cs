using System.Globalization;

namespace KeepAlive.AspNetCore.FunctionalTests.Configuration;

/// <summary>
/// What a reader of the README expects the kernel to hold for a configuration, worked out from the settings by the
/// documented rules (not by the library's own code): defaults 60 s, 10 s, 6 probes; a UserTimeout that is absent or
/// empty is Idle + Interval x ProbeCount, 00:00:00 is off; a named policy takes Enabled, Idle, Interval and ProbeCount
/// from the top level unless its preset gives them (a preset gives all four, Enabled true), then its own; its UserTimeout
/// is its own or derived from its own values.
/// </summary>
internal static class DocumentedRules
{
    // README, "Presets": Idle, Interval, ProbeCount in seconds (and Enabled: true).
    private static readonly Dictionary<string, (int Idle, int Interval, int ProbeCount)> Presets = new(StringComparer.OrdinalIgnoreCase)
    {
        ["AzureLoadBalancer"] = (180, 10, 6),
        ["AwsNetworkLoadBalancer"] = (300, 10, 5),
        ["GoogleCloudLoadBalancer"] = (540, 10, 6),
        ["Aggressive"] = (5, 2, 3),
    };

    /// <summary>The top-level policy.</summary>
    public static ExpectedSocket Default(IReadOnlyDictionary<string, string?> settings) =>
        Resolve(settings, "KeepAlive", new ExpectedSocket(true, 60, 10, 6, null, TopLevel: true));

    /// <summary>The named policy <paramref name="name"/>.</summary>
    public static ExpectedSocket Named(IReadOnlyDictionary<string, string?> settings, string name)
    {
        var policy = Default(settings) with { UserTimeoutMilliseconds = null, TopLevel = false };
        if (Get(settings, $"KeepAlive:Policies:{name}:Preset") is { } preset)
        {
            var (idle, interval, probeCount) = Presets[preset];
            // A preset is keepalive with its values: it switches keepalive on even under a top level that has it off.
            policy = policy with { Enabled = true, Idle = idle, Interval = interval, ProbeCount = probeCount };
        }
        return Resolve(settings, $"KeepAlive:Policies:{name}", policy);
    }

    /// <summary>The names under <c>KeepAlive:Policies</c>, once each whatever their casing.</summary>
    public static IReadOnlyList<string> PolicyNames(IReadOnlyDictionary<string, string?> settings) =>
        settings.Keys
            .Select(k => k.Split(':'))
            .Where(k => k.Length > 3 && k[1].Equals("Policies", StringComparison.OrdinalIgnoreCase))
            .Select(k => k[2])
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .ToList();

    /// <summary>What <c>KeepAlive:Endpoints:&lt;endpoint&gt;</c> gives that endpoint: a named policy, the default (also when it names <c>default</c>), or the default when unmapped.</summary>
    public static ExpectedSocket Endpoint(IReadOnlyDictionary<string, string?> settings, string endpoint) =>
        Get(settings, $"KeepAlive:Endpoints:{endpoint}") is { } policy && !policy.Equals("default", StringComparison.OrdinalIgnoreCase)
            ? Named(settings, policy)
            : Default(settings);

    private static ExpectedSocket Resolve(IReadOnlyDictionary<string, string?> settings, string section, ExpectedSocket inherited)
    {
        var policy = inherited with
        {
            Enabled = Get(settings, $"{section}:Enabled") is { } enabled ? bool.Parse(enabled) : inherited.Enabled,
            Idle = Seconds(Get(settings, $"{section}:Idle")) ?? inherited.Idle,
            Interval = Seconds(Get(settings, $"{section}:Interval")) ?? inherited.Interval,
            ProbeCount = Get(settings, $"{section}:ProbeCount") is { } count ? int.Parse(count, CultureInfo.InvariantCulture) : inherited.ProbeCount,
        };
        var userTimeout = Get(settings, $"{section}:UserTimeout") is { Length: > 0 } set && set.Trim().Length > 0
            ? (int)Duration(set).TotalMilliseconds
            : (policy.Enabled ? (policy.Idle + policy.Interval * policy.ProbeCount) * 1000 : 0);
        return policy with { UserTimeoutMilliseconds = userTimeout };
    }

    private static string? Get(IReadOnlyDictionary<string, string?> settings, string key) => settings.GetValueOrDefault(key);

    private static int? Seconds(string? value) => value is null ? null : (int)Duration(value).TotalSeconds;

    // The documented form: [-][d.]hh:mm:ss[.fffffff], invariant culture.
    private static TimeSpan Duration(string value) => TimeSpan.ParseExact(value.Trim(), "c", CultureInfo.InvariantCulture);
}
