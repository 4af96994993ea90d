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
        NotASection(section, errors, $"{section.Key} is a section, with the keys {string.Join(", ", Keys)}");
        var values = Read(section, Keys, errors, out var userTimeoutCleared);
        options.Enabled = values.Enabled ?? options.Enabled;
        options.Idle = values.Idle ?? options.Idle;
        options.Interval = values.Interval ?? options.Interval;
        options.ProbeCount = values.ProbeCount ?? options.ProbeCount;
        if (values.UserTimeout is not null || userTimeoutCleared)
            options.UserTimeout = values.UserTimeout;

        var policies = section.GetSection(Policies);
        NotASection(policies, errors, $"{Policies} is a section of named policies, e.g. {policies.Path}:streaming:Idle=00:00:15");
        foreach (var policy in Named(policies, errors, """ "Policies": { "streaming": { "Idle": "00:00:15" } } """.Trim()))
        {
            if (policy.Value is { Length: > 0 } scalar)
            {
                // KeepAlive:Policies:fast=Aggressive would otherwise be a policy with nothing set: the default, silently.
                var example = KeepAlivePresets.Find(scalar) is not null ? $"{policy.Path}:{Preset}={scalar}" : $"{policy.Path}:Idle=00:00:15";
                errors?.Add($"{policy.Path}: '{scalar}' is a single value; a policy is a section, with the keys {string.Join(", ", NamedPolicyKeys)}: write {example}");
            }
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

        var endpoints = section.GetSection(Endpoints);
        NotASection(endpoints, errors, $"{Endpoints} is a section that maps Kestrel endpoint names to policies, e.g. {endpoints.Path}:Http=streaming");
        foreach (var endpoint in Named(endpoints, errors, """ "Endpoints": { "Http": "streaming" } """.Trim()))
        {
            if (endpoint.GetChildren().FirstOrDefault() is { } inner)
                errors?.Add($"{endpoint.Path} is a section (it has {inner.Path}); it takes the name of a policy of {section.Path}:{Policies}, or {KeepAlivePolicy.DefaultName}");
            else if (endpoint.Value is null)
                continue; // JSON null: not set, as for any other key
            else if (string.IsNullOrWhiteSpace(endpoint.Value))
                errors?.Add($"{endpoint.Path} must name a policy of {section.Path}:{Policies}, or {KeepAlivePolicy.DefaultName}");
            else
                options.Endpoints[endpoint.Key] = endpoint.Value;
        }
    }

    // A value where a section belongs (KeepAlive=x, KeepAlive:Policies=x): the binder would ignore it silently.
    // An empty value is nothing set, as for any other key.
    private static void NotASection(IConfigurationSection section, List<string>? errors, string allowed)
    {
        if (section.Value is { Length: > 0 } value)
            errors?.Add($"{section.Path}: '{value}' is a single value; {allowed}");
    }

    // The named children of Policies or Endpoints. A JSON array there binds as the names "0", "1", ...; an empty
    // name comes from a doubled separator (KeepAlive__Policies____Idle). Either is a mistake, not a name.
    private static IEnumerable<IConfigurationSection> Named(IConfigurationSection section, List<string>? errors, string example)
    {
        var children = section.GetChildren().ToList();
        var indexes = children.Where(c => c.Key.Length > 0 && c.Key.All(char.IsAsciiDigit)).Select(c => c.Key).ToList();
        if (indexes.Count > 0)
        {
            errors?.Add($"{section.Path} is a list (keys {string.Join(", ", indexes)}); {section.Key} is an object keyed by " +
                $"{(section.Key.Equals(Policies, StringComparison.OrdinalIgnoreCase) ? "policy name" : "Kestrel endpoint name")}, e.g. {example}");
        }
        foreach (var child in children)
        {
            if (child.Key.Length == 0)
                errors?.Add($"{section.Path} has an entry with an empty name ({child.Path}, e.g. from a doubled __ in an environment variable); give it a name");
            else if (!indexes.Contains(child.Key))
                yield return child;
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
            if (child.GetChildren().FirstOrDefault() is { } inner)
            {
                // A section (KeepAlive:Idle:Seconds = 5) where a value belongs: the binder would skip it silently, and
                // a value set as well (appsettings Idle, environment KeepAlive__Idle__Seconds) would hide it.
                var what = value is null ? $"is a section (it has {inner.Path})" : $"is '{value}' and a section as well (it has {inner.Path})";
                errors?.Add($"{key} {what}; it takes a single value, allowed: {KeepAliveOptionsValidator.AllowedRange(child.Key)}");
                continue;
            }
            if (value is null)
            {
                // A key set to null (JSON null) is simply not set.
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
                        errors?.Add(NotADuration(key, value, KeepAliveOptionsValidator.SecondsRange));
                    break;
                case "INTERVAL":
                    if (TryParseDuration(value, out var interval))
                        values.Interval = interval;
                    else
                        errors?.Add(NotADuration(key, value, KeepAliveOptionsValidator.SecondsRange));
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
                        errors?.Add(NotADuration(key, value, KeepAliveOptionsValidator.UserTimeoutRange));
                    break;
            }
        }
        return values;
    }

    // Only [-][d.]hh:mm:ss[.fffffff] in the invariant culture (TimeSpan's "c" format), with its seconds: the binder
    // would also take "5" (five days), "00:30" (hh:mm, 30 minutes), "24:00:00" (24 days) and d:hh:mm:ss; for a
    // keepalive setting, where seconds are meant far more often than hours, each of those is a trap.
    private static bool TryParseDuration(string value, out TimeSpan duration)
    {
        duration = default;
        // "c" also takes a fraction point with no digits after it ("00:01:00."), which the grammar above does not allow.
        var trimmed = value.Trim();
        return trimmed.Count(c => c == ':') == 2 && !trimmed.EndsWith('.') &&
            TimeSpan.TryParseExact(trimmed, "c", CultureInfo.InvariantCulture, out duration);
    }

    private static string NotADuration(string key, string value, string range)
    {
        if (long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out _))
            return $"{key}: '{value}' is a bare number, which .NET reads as days; write a TimeSpan such as 00:01:00 for one minute, allowed: {range}";
        if (value.Count(c => c == ':') == 1 && TimeSpan.TryParseExact(value.Trim(), "c", CultureInfo.InvariantCulture, out var read))
        {
            // hh:mm or d.hh:mm: .NET's reading, and the one with every unit a step down (mm:ss, hh:mm:ss), which is
            // what a keepalive setting usually means.
            var meant = new TimeSpan(read.Days, read.Hours, read.Minutes);
            return $"{key}: '{value}' has no seconds; .NET would read it as {Format(read)} ({Describe(read)}). " +
                $"Write {Format(meant)} for {Describe(meant)} or {Format(read)} for {Describe(read)}; allowed: {range}";
        }
        return $"{key}: '{value}' is not a duration; use a TimeSpan such as 00:01:00 (hh:mm:ss), allowed: {range}";
    }

    private static string Format(TimeSpan value) => value.ToString("c", CultureInfo.InvariantCulture);

    // "1 day 2 hours 3 minutes", "30 seconds".
    private static string Describe(TimeSpan value)
    {
        var magnitude = value.Duration();
        var parts = new[] { (magnitude.Days, "day"), (magnitude.Hours, "hour"), (magnitude.Minutes, "minute"), (magnitude.Seconds, "second") }
            .Where(p => p.Item1 != 0)
            .Select(p => $"{p.Item1.ToString(CultureInfo.InvariantCulture)} {p.Item2}{(p.Item1 == 1 ? "" : "s")}")
            .ToList();
        var text = parts.Count == 0 ? "0 seconds" : string.Join(" ", parts);
        return value < TimeSpan.Zero ? "minus " + text : text;
    }
}
