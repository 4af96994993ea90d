namespace KeepAlive.AspNetCore;

/// <summary>
/// A named policy (<c>KeepAlive:Policies:&lt;name&gt;</c>): each value it leaves unset comes from its
/// <see cref="Preset"/>, if any, then from the default policy (the top level of <c>KeepAlive</c>).
/// </summary>
public sealed class KeepAlivePolicyOptions
{
    /// <summary>A preset to start from (see <see cref="KeepAlivePresets"/>); the values below override it key by key.</summary>
    public string? Preset { get; set; }

    /// <summary>SO_KEEPALIVE; see <see cref="KeepAliveOptions.Enabled"/>.</summary>
    public bool? Enabled { get; set; }

    /// <summary>TCP_KEEPIDLE; see <see cref="KeepAliveOptions.Idle"/>.</summary>
    public TimeSpan? Idle { get; set; }

    /// <summary>TCP_KEEPINTVL; see <see cref="KeepAliveOptions.Interval"/>.</summary>
    public TimeSpan? Interval { get; set; }

    /// <summary>TCP_KEEPCNT; see <see cref="KeepAliveOptions.ProbeCount"/>.</summary>
    public int? ProbeCount { get; set; }

    /// <summary>
    /// TCP_USER_TIMEOUT; see <see cref="KeepAliveOptions.UserTimeout"/>. Never taken from the default policy: unset
    /// here, it is <c>Idle + Interval x ProbeCount</c> of this policy (its preset's, for a preset).
    /// </summary>
    public TimeSpan? UserTimeout { get; set; }
}
