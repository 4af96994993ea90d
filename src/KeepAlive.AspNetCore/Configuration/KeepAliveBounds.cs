using System.Globalization;
using System.Text;

namespace KeepAlive.AspNetCore;

/// <summary>
/// How long a policy lets the server hold a peer that went away or stalled, by Linux's rules: the one place
/// these numbers are computed, for the startup line, the warnings, the connection view and the tests.
/// </summary>
/// <param name="SilentIdlePeer">
/// A peer that vanished from an idle connection: from its last sign of life until the kernel gives up.
/// <see langword="null"/> when keepalive is off: TCP then never notices.
/// </param>
/// <param name="IdleProbes">The keepalive probes sent to such a peer before the kernel gives up (0 when keepalive is off).</param>
/// <param name="UnacknowledgedData">
/// A peer that stops acknowledging data the server sent: from the first unacknowledged send. The user timeout, or
/// without one the kernel's retransmission limit (tcp_retries2, about 15 min) as the kernel models it, which the
/// connection outlives by a little or, where the round trip is long, by more (<see cref="TcpKernelSettings.RetransmissionGiveUpAt"/>).
/// </param>
/// <param name="StalledReader">
/// A live peer that stops reading (its receive window stays closed while the server has data to send): from the
/// window closing. <see langword="null"/> without a user timeout: TCP keeps such a connection as long as the
/// peer answers its window probes.
/// </param>
/// <param name="Retries2">tcp_retries2 when it bounds <paramref name="UnacknowledgedData"/> (no user timeout); otherwise <see langword="null"/>.</param>
internal readonly record struct KeepAliveBounds(TimeSpan? SilentIdlePeer, int IdleProbes, TimeSpan UnacknowledgedData, TimeSpan? StalledReader, int? Retries2)
{
    /// <summary>
    /// A peer that vanishes from a connection the server writes to now and then (a heartbeat), from its last sign of
    /// life, at worst: between writes the connection is idle and keepalive's clock runs; a write just before its verdict
    /// puts data in flight, and the verdict is then the user timeout's, counted from that write's first retransmission.
    /// So a write every W lets the peer go after min(W, <see cref="SilentIdlePeer"/>) + <see cref="UnacknowledgedData"/>.
    /// <see langword="null"/> when keepalive is off: between writes nothing then bounds it.
    /// </summary>
    public TimeSpan? WritingNowAndThen => SilentIdlePeer + UnacknowledgedData;

    /// <summary>The bounds of <paramref name="options"/> under the kernel settings <paramref name="kernel"/>.</summary>
    public static KeepAliveBounds For(KeepAliveOptions options, TcpKernelSettings kernel)
    {
        var userTimeout = options.EffectiveUserTimeout;
        var hasUserTimeout = userTimeout > TimeSpan.Zero;

        TimeSpan? idle = null;
        var probes = 0;
        if (options.Enabled)
        {
            // tcp_keepalive_timer (net/ipv4/tcp_timer.c) fires after Idle, then every Interval, and sends a probe each
            // time unless it gives up first. Without a user timeout it gives up once ProbeCount probes are unanswered;
            // with one, it ignores ProbeCount and gives up at the first firing at least UserTimeout after the last
            // sign of life with a probe unanswered (so never before the second firing).
            probes = hasUserTimeout
                ? Math.Max(1, (int)Math.Ceiling((userTimeout - options.Idle) / options.Interval))
                : options.ProbeCount;
            idle = options.Idle + options.Interval * probes;
        }

        // With a user timeout, retransmissions (tcp_write_timeout) and zero-window probes (tcp_probe_timer, Linux
        // 5.11+) give up once it has elapsed; without one, retransmissions give up after tcp_retries2 backoffs and
        // zero-window probes that are answered go on for ever (RFC 1122 4.2.2.17).
        return new KeepAliveBounds(
            idle,
            probes,
            hasUserTimeout ? userTimeout : kernel.RetransmissionGiveUp,
            hasUserTimeout ? userTimeout : null,
            hasUserTimeout ? null : kernel.Retries2);
    }

    /// <summary>What the policy does to a peer that is gone or stalled, in the words of the startup line.</summary>
    public string Describe() =>
        $"a dead idle peer is let go {(SilentIdlePeer is { } idle ? $"{Format(idle)} after its last sign of life ({IdleProbes} unanswered probes)" : "never (keepalive is off)")}; " +
        $"a peer that stops acknowledging data {(Retries2 is { } retries ? $"{Format(UnacknowledgedData)} or more after the first unacknowledged send (when tcp_retries2 {retries} retransmissions give up, later where the round trip is long; a UserTimeout makes it firm)" : $"{Format(UnacknowledgedData)} after the first unacknowledged send")}; " +
        $"a live peer that stops reading {(StalledReader is { } stalled ? $"{Format(stalled)} after its window closed" : "never (TCP gives no bound without a UserTimeout)")}; " +
        $"a peer that vanishes from a connection written to now and then {(WritingNowAndThen is { } writing ? $"at most {Format(writing)} after its last sign of life (a write just before the keepalive verdict starts the user timeout)" : "never, between writes (keepalive is off)")}";

    /// <summary>A duration as an operator reads it: <c>11 s</c>, <c>2 min</c>, <c>15 min 24.6 s</c>, <c>2 h 11 min 15 s</c>.</summary>
    public static string Format(TimeSpan value)
    {
        if (value < TimeSpan.FromSeconds(1))
            return string.Create(CultureInfo.InvariantCulture, $"{value.TotalMilliseconds:0.###} ms");
        var text = new StringBuilder();
        if (value.Days > 0)
            text.Append(CultureInfo.InvariantCulture, $"{value.Days} d ");
        if (value.Hours > 0)
            text.Append(CultureInfo.InvariantCulture, $"{value.Hours} h ");
        if (value.Minutes > 0)
            text.Append(CultureInfo.InvariantCulture, $"{value.Minutes} min ");
        var seconds = value.Seconds + value.Milliseconds / 1000.0;
        if (seconds > 0)
            text.Append(CultureInfo.InvariantCulture, $"{seconds:0.###} s ");
        return text.ToString().TrimEnd();
    }
}
