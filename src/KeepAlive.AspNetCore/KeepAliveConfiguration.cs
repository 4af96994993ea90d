using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace KeepAlive.AspNetCore;

/// <summary>
/// Reads a <see cref="KeepAliveOptions"/> from a configuration section. The configuration binder would
/// throw on an unparsable value before validation runs, with a message that names neither the allowed
/// range nor the form; reading the five keys here lets validation report every bad key at once.
/// </summary>
internal static class KeepAliveConfiguration
{
    internal static readonly string[] Keys =
    [
        nameof(KeepAliveOptions.Enabled),
        nameof(KeepAliveOptions.Idle),
        nameof(KeepAliveOptions.Interval),
        nameof(KeepAliveOptions.ProbeCount),
        nameof(KeepAliveOptions.UserTimeout),
    ];

    /// <summary>Copies the values present in <paramref name="section"/> onto <paramref name="options"/>.</summary>
    /// <param name="section">The section to read, e.g. <c>KeepAlive</c>.</param>
    /// <param name="options">The options to change.</param>
    /// <param name="errors">Receives one message per value that cannot be read; such a value is skipped.</param>
    public static void Bind(IConfigurationSection section, KeepAliveOptions options, List<string>? errors = null)
    {
        foreach (var child in section.GetChildren())
        {
            var value = child.Value;
            var key = child.Path;
            if (value is null && IsKnown(child.Key))
            {
                // A section (KeepAlive:Idle:Seconds = 5) where a value belongs: the binder would skip it
                // silently. A key set to null (JSON null) is simply not set.
                if (child.GetChildren().Any())
                    errors?.Add($"{key} is a section; it takes a single value, allowed: {KeepAliveOptionsValidator.AllowedRange(child.Key)}");
                else if (child.Key.Equals(nameof(KeepAliveOptions.UserTimeout), StringComparison.OrdinalIgnoreCase))
                    options.UserTimeout = null;
                continue;
            }
            switch (child.Key.ToUpperInvariant())
            {
                case "ENABLED":
                    if (bool.TryParse(value, out var enabled))
                        options.Enabled = enabled;
                    else
                        errors?.Add($"{key}: '{value}' is not a boolean; use true or false");
                    break;
                case "IDLE":
                    if (TryParseDuration(value, out var idle))
                        options.Idle = idle;
                    else
                        errors?.Add(KeepAliveOptionsValidator.NotADuration(key, value, KeepAliveOptionsValidator.SecondsRange));
                    break;
                case "INTERVAL":
                    if (TryParseDuration(value, out var interval))
                        options.Interval = interval;
                    else
                        errors?.Add(KeepAliveOptionsValidator.NotADuration(key, value, KeepAliveOptionsValidator.SecondsRange));
                    break;
                case "PROBECOUNT":
                    if (int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var count))
                        options.ProbeCount = count;
                    else
                        errors?.Add($"{key}: '{value}' is not a whole number; allowed: {KeepAliveOptionsValidator.ProbeCountRange}");
                    break;
                case "USERTIMEOUT":
                    if (string.IsNullOrWhiteSpace(value))
                        options.UserTimeout = null;
                    else if (TryParseDuration(value, out var userTimeout))
                        options.UserTimeout = userTimeout;
                    else
                        errors?.Add(KeepAliveOptionsValidator.NotADuration(key, value, KeepAliveOptionsValidator.UserTimeoutRange));
                    break;
                default:
                    errors?.Add($"{key} is not a known key; the keys are {string.Join(", ", Keys)}");
                    break;
            }
        }
    }

    private static bool IsKnown(string key) => Keys.Contains(key, StringComparer.OrdinalIgnoreCase);

    // The form the configuration binder accepts for TimeSpan, [-][d.]hh:mm:ss[.fffffff] in the invariant
    // culture, except a bare number: TimeSpan reads "5" as five days, never what a keepalive setting means.
    private static bool TryParseDuration(string? value, out TimeSpan duration)
    {
        duration = default;
        return !long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out _) &&
            TimeSpan.TryParse(value, CultureInfo.InvariantCulture, out duration);
    }
}
