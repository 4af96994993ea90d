using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The one validation of the <c>KeepAlive</c> configuration, at startup, on reload, and where code or a route names a
/// policy: every check, one list of errors. Every message names the configuration key, the bad value and the allowed range.
/// </summary>
/// <param name="configuration">The app's configuration, for the values binding could not parse.</param>
/// <param name="references">The places in code and routes that name a policy.</param>
/// <param name="kestrelEndpoints">Kestrel's configuration endpoints, the names <c>KeepAlive:Endpoints</c> may map.</param>
internal sealed class KeepAliveOptionsValidator(IConfiguration configuration, KeepAlivePolicyReferences references, KestrelConfigurationEndpoints kestrelEndpoints)
    : IValidateOptions<KeepAliveOptions>
{
    // tcp(7): TCP_KEEPIDLE and TCP_KEEPINTVL take 1..MAX_TCP_KEEPIDLE/INTVL (32767) seconds,
    // TCP_KEEPCNT 1..MAX_TCP_KEEPCNT (127); anything else is EINVAL.
    internal const int MaxKeepAliveSeconds = 32767;
    internal const int MaxProbeCount = 127;

    internal const string SecondsRange = "00:00:01 to 09:06:07 (1 to 32767 seconds), in whole seconds";
    internal const string ProbeCountRange = "1 to 127";
    // TCP_USER_TIMEOUT is an int of milliseconds; a negative value is EINVAL.
    internal const string UserTimeoutRange = "00:00:00 (off) to 24.20:31:23.647 (int.MaxValue milliseconds), in whole milliseconds";

    public ValidateOptionsResult Validate(string? name, KeepAliveOptions options) =>
        Failures(options) is { Count: > 0 } failures ? ValidateOptionsResult.Fail(failures) : ValidateOptionsResult.Success;

    /// <summary>Throws, with every failure in one message, unless <paramref name="options"/> pass every check.</summary>
    public void ThrowIfInvalid(KeepAliveOptions options)
    {
        if (Failures(options) is { Count: > 0 } failures)
            throw new OptionsValidationException(Options.DefaultName, typeof(KeepAliveOptions), failures);
    }

    /// <summary>Every failure of <paramref name="options"/>, with what the host knows beyond them.</summary>
    public List<string> Failures(KeepAliveOptions options)
    {
        // Unparsable configuration values were skipped when binding; report them here.
        var failures = new List<string>();
        KeepAliveConfiguration.Bind(configuration.GetSection(KeepAliveOptions.SectionName), new KeepAliveOptions(), failures);
        failures.AddRange(Validate(options, KeepAliveOptions.SectionName));
        failures.AddRange(references.Unknown(options));
        // Empty until Kestrel has read its configuration endpoints: the policies check again when Kestrel binds.
        failures.AddRange(kestrelEndpoints.Unknown(options.Endpoints.Keys));
        return failures;
    }

    /// <summary>
    /// Range checks of the default policy and of every named policy as it resolves over it, and that every
    /// endpoint names a policy; keys under <paramref name="section"/>.
    /// </summary>
    public static IEnumerable<string> Validate(KeepAliveOptions options, string section)
    {
        var failures = ValidatePolicy(options, section).ToList();
        var defaultIsValid = failures.Count == 0;
        foreach (var (name, named) in options.Policies)
        {
            var key = $"{section}:{nameof(options.Policies)}:{name}";
            // Wherever a policy is named, "default" is the top level: a named policy of that name would never apply.
            if (name.Equals(KeepAlivePolicy.DefaultName, StringComparison.OrdinalIgnoreCase))
                failures.Add($"{key}: '{KeepAlivePolicy.DefaultName}' is the name of the top-level policy (the {section} section itself); give this policy another name");
            else if (named.Preset is { } preset && KeepAlivePresets.Find(preset) is null)
                failures.Add($"{key}:{nameof(named.Preset)}: '{preset}' is not a preset; the presets are {string.Join(", ", KeepAlivePresets.Names)}");
            // A value it inherits from an invalid default is reported once, at the default's key.
            else if (defaultIsValid && options.Resolve(name) is { } resolved)
                failures.AddRange(ValidatePolicy(resolved, key));
        }
        foreach (var (endpoint, policy) in options.Endpoints)
        {
            if (!IsPolicy(options, policy))
                failures.Add(UnknownPolicy($"{section}:{nameof(options.Endpoints)}:{endpoint}", policy, options, section));
        }
        return failures;
    }

    /// <summary>Whether <paramref name="name"/> names a policy: one of <c>KeepAlive:Policies</c>, or <c>default</c>, the top level.</summary>
    internal static bool IsPolicy(KeepAliveOptions options, string name) =>
        options.Policies.ContainsKey(name) || name.Equals(KeepAlivePolicy.DefaultName, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The messages for names in <c>KeepAlive:Endpoints</c> that are not Kestrel configuration endpoints
    /// (<paramref name="kestrelEndpoints"/>, the section <paramref name="where"/>).
    /// </summary>
    internal static List<string> UnknownEndpoints(IEnumerable<string> mapped, IReadOnlyCollection<string> kestrelEndpoints, string where) =>
        mapped
            .Where(name => !kestrelEndpoints.Contains(name, StringComparer.OrdinalIgnoreCase))
            .Select(name =>
                $"{KeepAliveOptions.SectionName}:{nameof(KeepAliveOptions.Endpoints)}:{name} names the Kestrel endpoint '{name}', which is not in {where}; " +
                (kestrelEndpoints.Count == 0 ? "there are none" : $"the endpoints are {string.Join(", ", kestrelEndpoints)}"))
            .ToList();

    /// <summary>The message for a reference to a policy that <c>KeepAlive:Policies</c> lacks.</summary>
    internal static string UnknownPolicy(string where, string policy, KeepAliveOptions options, string section = KeepAliveOptions.SectionName) =>
        $"{where} names the policy '{policy}', which is not in {section}:{nameof(options.Policies)}; " +
        (options.Policies.Count == 0 ? "there are none" : $"the policies are {string.Join(", ", options.Policies.Keys)}");

    private static IEnumerable<string> ValidatePolicy(KeepAliveOptions options, string section)
    {
        if (!IsWholeSecondsInRange(options.Idle))
            yield return OutOfRange($"{section}:{nameof(options.Idle)}", options.Idle, SecondsRange);
        if (!IsWholeSecondsInRange(options.Interval))
            yield return OutOfRange($"{section}:{nameof(options.Interval)}", options.Interval, SecondsRange);
        if (options.ProbeCount is < 1 or > MaxProbeCount)
            yield return $"{section}:{nameof(options.ProbeCount)} is {options.ProbeCount.ToString(CultureInfo.InvariantCulture)}; allowed: {ProbeCountRange}";
        if (options.UserTimeout is { } userTimeout)
        {
            if (userTimeout < TimeSpan.Zero || userTimeout.TotalMilliseconds > int.MaxValue || userTimeout.Ticks % TimeSpan.TicksPerMillisecond != 0)
                yield return OutOfRange($"{section}:{nameof(options.UserTimeout)}", userTimeout, UserTimeoutRange);
        }
        else if (options.Enabled && IsWholeSecondsInRange(options.Idle) && IsWholeSecondsInRange(options.Interval) &&
                 options.ProbeCount is >= 1 and <= MaxProbeCount && options.KeepAliveSpan.TotalMilliseconds > int.MaxValue)
        {
            // Each value is valid, but the derived default would not fit TCP_USER_TIMEOUT.
            yield return $"{section}:{nameof(options.UserTimeout)} is not set, so it would be Idle + Interval x ProbeCount = " +
                $"{options.KeepAliveSpan.ToString("c", CultureInfo.InvariantCulture)}, more than the kernel holds; set it explicitly, allowed: {UserTimeoutRange}";
        }
    }

    internal static string AllowedRange(string key) => key.ToUpperInvariant() switch
    {
        "IDLE" or "INTERVAL" => SecondsRange,
        "PROBECOUNT" => ProbeCountRange,
        "USERTIMEOUT" => UserTimeoutRange,
        "PRESET" => $"one of {string.Join(", ", KeepAlivePresets.Names)}",
        _ => "true or false",
    };

    private static string OutOfRange(string key, TimeSpan value, string range)
    {
        // Code can still write TimeSpan.FromDays(60) where seconds were meant.
        var hint = value >= TimeSpan.FromDays(1) && value.Ticks % TimeSpan.TicksPerDay == 0
            ? " (whole days: did you mean seconds?)"
            : "";
        return $"{key} is {value.ToString("c", CultureInfo.InvariantCulture)}{hint}; allowed: {range}";
    }

    private static bool IsWholeSecondsInRange(TimeSpan value) =>
        value >= TimeSpan.FromSeconds(1) && value <= TimeSpan.FromSeconds(MaxKeepAliveSeconds) &&
        value.Ticks % TimeSpan.TicksPerSecond == 0;
}
