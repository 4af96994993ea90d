namespace KeepAlive.AspNetCore;

/// <summary>
/// The TCP keepalive and user-timeout policy applied to every TCP connection Kestrel accepts.
/// Bound from the <c>KeepAlive</c> configuration section.
/// </summary>
/// <remarks>
/// The defaults find a peer that vanished from an idle connection after
/// <c>Idle + Interval x ProbeCount</c> = 2 minutes, well under the idle timeouts of common cloud
/// load balancers (Azure 4 min, AWS NLB 350 s, GCP 10 min), so the probes also keep those flows alive.
/// </remarks>
public sealed class KeepAliveOptions
{
    /// <summary>The configuration section the policy is read from: <c>KeepAlive</c>.</summary>
    public const string SectionName = "KeepAlive";

    /// <summary>
    /// Whether keepalive probes are sent (SO_KEEPALIVE). When <see langword="false"/>, SO_KEEPALIVE is
    /// switched off, <see cref="Idle"/>, <see cref="Interval"/> and <see cref="ProbeCount"/> are not set,
    /// and <see cref="UserTimeout"/> applies only when it is set explicitly. Default: <see langword="true"/>.
    /// </summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// How long a connection stays idle before the first probe (TCP_KEEPIDLE).
    /// 1 s to 32767 s, in whole seconds. Default: 60 s.
    /// </summary>
    public TimeSpan Idle { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Time between unanswered probes (TCP_KEEPINTVL). 1 s to 32767 s, in whole seconds. Default: 10 s.
    /// </summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Unanswered probes after which the kernel drops the connection (TCP_KEEPCNT). 1 to 127. Default: 6.
    /// </summary>
    public int ProbeCount { get; set; } = 6;

    /// <summary>
    /// How long sent data may stay unacknowledged before the kernel drops the connection
    /// (TCP_USER_TIMEOUT on Linux, TCP_MAXRT on Windows, TCP_RXT_CONNDROPTIME on macOS). Whole
    /// milliseconds, zero or more; <see cref="TimeSpan.Zero"/> leaves the system default (off).
    /// Default (<see langword="null"/>): <c>Idle + Interval x ProbeCount</c>.
    /// </summary>
    /// <remarks>
    /// Keepalive probes are only sent while no data is in flight; a peer that vanishes while the server
    /// is writing (a stream, server-sent events) is only bounded by this timeout. On Linux, when it is
    /// set, it also ends an idle connection once it has elapsed and a probe is unanswered, whatever
    /// <see cref="ProbeCount"/> says.
    /// </remarks>
    public TimeSpan? UserTimeout { get; set; }

    /// <summary>
    /// The user timeout in force: <see cref="UserTimeout"/> when set, otherwise
    /// <c>Idle + Interval x ProbeCount</c> while <see cref="Enabled"/>, otherwise zero (off).
    /// </summary>
    public TimeSpan EffectiveUserTimeout =>
        UserTimeout ?? (Enabled ? KeepAliveSpan : TimeSpan.Zero);

    /// <summary>How long keepalive takes to give up on a silent idle peer: <c>Idle + Interval x ProbeCount</c>.</summary>
    public TimeSpan KeepAliveSpan => Idle + Interval * ProbeCount;

    /// <summary>
    /// Named policies (<c>KeepAlive:Policies</c>), for endpoints (<see cref="Endpoints"/>,
    /// <c>listenOptions.UseKeepAlivePolicy("name")</c>) and routes (<c>WithKeepAlivePolicy("name")</c>).
    /// Names are case-insensitive.
    /// </summary>
    public IDictionary<string, KeepAlivePolicyOptions> Policies { get; } = new Dictionary<string, KeepAlivePolicyOptions>(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Kestrel endpoint names (<c>Kestrel:Endpoints:&lt;name&gt;</c>) mapped to the name of the policy their
    /// connections get (<c>KeepAlive:Endpoints</c>). Names are case-insensitive.
    /// </summary>
    public IDictionary<string, string> Endpoints { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>The values of the default policy alone, without <see cref="Policies"/> and <see cref="Endpoints"/>.</summary>
    internal KeepAliveOptions ClonePolicy() => new()
    {
        Enabled = Enabled,
        Idle = Idle,
        Interval = Interval,
        ProbeCount = ProbeCount,
        UserTimeout = UserTimeout,
    };

    /// <summary>
    /// The named policy <paramref name="name"/> resolved over this default policy: <c>Enabled</c>, <c>Idle</c>,
    /// <c>Interval</c> and <c>ProbeCount</c> from the default policy, replaced by its preset's values, then by its own.
    /// <see langword="null"/> when there is no such policy (or preset).
    /// </summary>
    /// <remarks>
    /// The user timeout is never inherited: it is the named policy's own, or derived from its own keepalive span.
    /// On Linux a user timeout overrides <c>ProbeCount</c> for idle peers, so one inherited from the top level (set
    /// for the top level's span) would silently change how long this policy holds a dead peer.
    /// </remarks>
    internal KeepAliveOptions? Resolve(string name)
    {
        if (!Policies.TryGetValue(name, out var named))
            return null;
        var resolved = ClonePolicy();
        resolved.UserTimeout = null;
        if (named.Preset is { } preset)
        {
            if (KeepAlivePresets.Find(preset) is not { } values)
                return null;
            Override(resolved, values);
        }
        Override(resolved, named);
        return resolved;
    }

    private static void Override(KeepAliveOptions options, KeepAlivePolicyOptions values)
    {
        options.Enabled = values.Enabled ?? options.Enabled;
        options.Idle = values.Idle ?? options.Idle;
        options.Interval = values.Interval ?? options.Interval;
        options.ProbeCount = values.ProbeCount ?? options.ProbeCount;
        options.UserTimeout = values.UserTimeout ?? options.UserTimeout;
    }
}
