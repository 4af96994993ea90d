using System.Globalization;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The kernel settings that bound a connection the policy does not: how long Linux retransmits unacknowledged
/// data when no user timeout is set. Read from <c>/proc/sys/net/ipv4</c> of the process's network namespace.
/// </summary>
/// <param name="Retries2">net.ipv4.tcp_retries2: the retransmissions after which an established connection is given up (default 15).</param>
/// <param name="RtoMax">net.ipv4.tcp_rto_max_ms (Linux 6.15+; 120 s before): the longest retransmission timeout.</param>
internal sealed record TcpKernelSettings(int Retries2, TimeSpan RtoMax)
{
    // include/net/tcp.h: TCP_RTO_MIN (HZ / 5), the base the kernel models the give-up time on.
    private static readonly TimeSpan RtoMin = TimeSpan.FromMilliseconds(200);

    /// <summary>The kernel's defaults: tcp_retries2 15, tcp_rto_max_ms 120000.</summary>
    public static TcpKernelSettings Default { get; } = new(15, TimeSpan.FromSeconds(120));

    /// <summary>The settings in force now; the defaults where they cannot be read (not Linux).</summary>
    public static TcpKernelSettings Read() => new(
        ReadInt("/proc/sys/net/ipv4/tcp_retries2") ?? Default.Retries2,
        ReadInt("/proc/sys/net/ipv4/tcp_rto_max_ms") is { } rtoMax ? TimeSpan.FromMilliseconds(rtoMax) : Default.RtoMax);

    /// <summary>
    /// How long Linux retransmits to a peer that acknowledges nothing before it gives up, without a user timeout, as
    /// the kernel models it: <c>tcp_model_timeout</c> (net/ipv4/tcp_timer.c), <see cref="Retries2"/> backoffs from
    /// TCP_RTO_MIN doubling up to <see cref="RtoMax"/>: 924.6 s with the defaults. The connection ends at the first
    /// retransmission at least that long after the first one (<see cref="RetransmissionGiveUpAt"/>): a little later.
    /// </summary>
    public TimeSpan RetransmissionGiveUp
    {
        get
        {
            var linearBackoffThreshold = (int)Math.Log2(RtoMax / RtoMin); // ilog2
            return Retries2 <= linearBackoffThreshold
                ? RtoMin * ((2L << Retries2) - 1)
                : RtoMin * ((2L << linearBackoffThreshold) - 1) + RtoMax * (Retries2 - linearBackoffThreshold);
        }
    }

    /// <summary>
    /// When Linux gives up on a peer that acknowledges nothing, without a user timeout, counted from the first
    /// unacknowledged send, for a connection whose retransmission timeout is <paramref name="rto"/> (tcpi_rto; 200 ms
    /// plus the round trip, at least): it retransmits after <paramref name="rto"/>, then after twice the last wait (up to
    /// <see cref="RtoMax"/>), and gives up at the first retransmission timer at least <see cref="RetransmissionGiveUp"/>
    /// after the first retransmission (tcp_write_timeout measures from retrans_stamp); docs/configuration.md has the
    /// figure measured for the defaults.
    /// </summary>
    public TimeSpan RetransmissionGiveUpAt(TimeSpan rto)
    {
        var limit = RetransmissionGiveUp;
        var wait = rto;
        var at = rto; // the first retransmission
        while (at - rto < limit)
        {
            wait = wait * 2 < RtoMax ? wait * 2 : RtoMax;
            at += wait;
        }
        return at;
    }

    private static int? ReadInt(string path)
    {
        try
        {
            return File.Exists(path) && int.TryParse(File.ReadAllText(path).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
                ? value
                : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
