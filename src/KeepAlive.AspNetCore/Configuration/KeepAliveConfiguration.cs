using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace KeepAlive.AspNetCore;

/// <summary>
/// Reads a <see cref="KeepAliveOptions"/> from a configuration section. The configuration binder would
/// throw on an unparsable value before validation runs, with a message that names neither the allowed
/// range nor the form; reading the keys here lets validation report every bad key at once.
/// </summary>
internal static class KeepAliveConfiguration
{
    private const string Policies = nameof(KeepAliveOptions.Policies);
    private const string Endpoints = nameof(KeepAliveOptions.Endpoints);
    private const string Preset = nameof(KeepAlivePolicyOptions.Preset);

    private static readonly string[] PolicyKeys =
    [
        nameof(KeepAliveOptions.Enabled),
        nameof(KeepAliveOptions.Idle),
        nameof(KeepAliveOptions.Interval),
        nameof(KeepAliveOptions.ProbeCount),
        nameof(KeepAliveOptions.UserTimeout),
    ];

    /// <summary>The keys of the <c>KeepAlive</c> section.</summary>
    internal static readonly string[] Keys = [.. PolicyKeys, Policies, Endpoints];

    private static readonly string[] NamedPolicyKeys = [Preset, .. PolicyKeys];

    /// <summary>Copies the values present in <paramref name="section"/> onto <paramref name="options"/>.</summary>
    /// <param name="section">The section to read, e.g. <c>KeepAlive</c>.</param>
    /// <param name="options">The options to change.</param>
    /// <param name="errors">Receives one message per value that cannot be read; such a value is skipped.</param>
    public static void Bind(IConfigurationSection section, KeepAliveOptions options, List<string>? errors = null)
    {
        var values = Read(section, Keys, errors, out var userTimeoutCleared);
        options.Enabled = values.Enabled ?? options.Enabled;
        options.Idle = values.Idle ?? options.Idle;
        options.Interval = values.Interval ?? options.Interval;
        options.ProbeCount = values.ProbeCount ?? options.ProbeCount;
        if (values.UserTimeout is not null || userTimeoutCleared)
            options.UserTimeout = values.UserTimeout;

        foreach (var policy in section.GetSection(Policies).GetChildren())
        {
            var named = Read(policy, NamedPolicyKeys, errors, out _);
            if (options.Policies.TryGetValue(policy.Key, out var existing))
            {
                // Code configured the policy too: configuration fills in, key by key.
                existing.Preset = named.Preset ?? existing.Preset;
                existing.Enabled = named.Enabled ?? existing.Enabled;
                existing.Idle = named.Idle ?? existing.Idle;
                existing.Interval = named.Interval ?? existing.Interval;
                existing.ProbeCount = named.ProbeCount ?? existing.ProbeCount;
                existing.UserTimeout = named.UserTimeout ?? existing.UserTimeout;
            }
            else
            {
                options.Policies[policy.Key] = named;
            }
        }

        foreach (var endpoint in section.GetSection(Endpoints).GetChildren())
        {
            if (string.IsNullOrWhiteSpace(endpoint.Value))
                errors?.Add($"{endpoint.Path} must name a policy of {section.Path}:{Policies}");
            else
                options.Endpoints[endpoint.Key] = endpoint.Value;
        }
    }

    // Reads one policy's values; those absent or unreadable stay null.
    private static KeepAlivePolicyOptions Read(IConfigurationSection section, string[] keys, List<string>? errors, out bool userTimeoutCleared)
    {
        var values = new KeepAlivePolicyOptions();
        userTimeoutCleared = false;
        foreach (var child in section.GetChildren())
        {
            var value = child.Value;
            var key = child.Path;
            if (!keys.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
            {
                errors?.Add($"{key} is not a known key; the keys are {string.Join(", ", keys)}");
                continue;
            }
            if (child.Key.Equals(Policies, StringComparison.OrdinalIgnoreCase) || child.Key.Equals(Endpoints, StringComparison.OrdinalIgnoreCase))
                continue; // sections, read by Bind
            if (value is null)
            {
                // A section (KeepAlive:Idle:Seconds = 5) where a value belongs: the binder would skip it
                // silently. A key set to null (JSON null) is simply not set.
                if (child.GetChildren().Any())
                    errors?.Add($"{key} is a section; it takes a single value, allowed: {KeepAliveOptionsValidator.AllowedRange(child.Key)}");
                userTimeoutCleared |= child.Key.Equals(nameof(KeepAliveOptions.UserTimeout), StringComparison.OrdinalIgnoreCase);
                continue;
            }

            switch (child.Key.ToUpperInvariant())
            {
                case "PRESET":
                    if (KeepAlivePresets.Find(value) is null)
                        errors?.Add($"{key}: '{value}' is not a preset; the presets are {string.Join(", ", KeepAlivePresets.Names)}");
                    else
                        values.Preset = value;
                    break;
                case "ENABLED":
                    if (bool.TryParse(value, out var enabled))
                        values.Enabled = enabled;
                    else
                        errors?.Add($"{key}: '{value}' is not a boolean; use true or false");
                    break;
                case "IDLE":
                    if (TryParseDuration(value, out var idle))
                        values.Idle = idle;
                    else
                        errors?.Add(KeepAliveOptionsValidator.NotADuration(key, value, KeepAliveOptionsValidator.SecondsRange));
                    break;
                case "INTERVAL":
                    if (TryParseDuration(value, out var interval))
                        values.Interval = interval;
                    else
                        errors?.Add(KeepAliveOptionsValidator.NotADuration(key, value, KeepAliveOptionsValidator.SecondsRange));
                    break;
                case "PROBECOUNT":
                    if (int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var count))
                        values.ProbeCount = count;
                    else
                        errors?.Add($"{key}: '{value}' is not a whole number; allowed: {KeepAliveOptionsValidator.ProbeCountRange}");
                    break;
                case "USERTIMEOUT":
                    if (string.IsNullOrWhiteSpace(value))
                        userTimeoutCleared = true;
                    else if (TryParseDuration(value, out var userTimeout))
                        values.UserTimeout = userTimeout;
                    else
                        errors?.Add(KeepAliveOptionsValidator.NotADuration(key, value, KeepAliveOptionsValidator.UserTimeoutRange));
                    break;
            }
        }
        return values;
    }

    // The form the configuration binder accepts for TimeSpan, [-][d.]hh:mm:ss[.fffffff] in the invariant
    // culture, except a bare number: TimeSpan reads "5" as five days, never what a keepalive setting means.
    private static bool TryParseDuration(string? value, out TimeSpan duration)
    {
        duration = default;
        return !long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out _) &&
            TimeSpan.TryParse(value, CultureInfo.InvariantCulture, out duration);
    }
}
