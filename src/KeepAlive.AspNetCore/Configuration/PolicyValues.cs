namespace KeepAlive.AspNetCore;

/// <summary>The values of one policy, compared by value: what decides whether a reload changed it.</summary>
internal readonly record struct PolicyValues(bool Enabled, TimeSpan Idle, TimeSpan Interval, int ProbeCount, TimeSpan? UserTimeout)
{
    /// <summary>The top-level values of <paramref name="options"/>, or those of a policy resolved over them.</summary>
    public static PolicyValues Of(KeepAliveOptions options) =>
        new(options.Enabled, options.Idle, options.Interval, options.ProbeCount, options.UserTimeout);

    /// <summary>
    /// Whether <paramref name="a"/> and <paramref name="b"/> configure the same policies, the same way, for the same
    /// endpoints; names compare as configuration keys do (ignoring case).
    /// </summary>
    public static bool SameConfiguration(KeepAliveOptions a, KeepAliveOptions b) =>
        Of(a) == Of(b) &&
        a.Policies.Count == b.Policies.Count &&
        a.Policies.All(p => b.Policies.TryGetValue(p.Key, out var other) &&
            string.Equals(p.Value.Preset, other.Preset, StringComparison.OrdinalIgnoreCase) && Resolved(a, p.Key) == Resolved(b, p.Key)) &&
        a.Endpoints.Count == b.Endpoints.Count &&
        a.Endpoints.All(e => b.Endpoints.TryGetValue(e.Key, out var policy) && string.Equals(e.Value, policy, StringComparison.OrdinalIgnoreCase));

    private static PolicyValues? Resolved(KeepAliveOptions options, string name) => options.Resolve(name) is { } resolved ? Of(resolved) : null;
}
