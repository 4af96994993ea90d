using System.Net.Sockets;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// The cause of a lost connection, from TCP_INFO as the kernel left it (the readings of FACTS.md and of the fault
/// tests) and the receive error.
/// </summary>
public class LostConnectionClassifierTests
{
    private static readonly KeepAliveOptions Policy = new() { Idle = TimeSpan.FromSeconds(1), Interval = TimeSpan.FromSeconds(1), ProbeCount = 2 };

    [Fact]
    public void Unanswered_keepalive_probes_are_a_keepalive_timeout() =>
        Assert.Equal(LostConnectionCause.KeepAliveTimeout, Classify(Info(TcpConnectionInfo.Closed, probes: 2, lastAck: 3000), SocketError.TimedOut));

    [Fact]
    public void Retransmissions_are_a_user_timeout() =>
        Assert.Equal(LostConnectionCause.UserTimeout, Classify(Info(TcpConnectionInfo.Closed, retransmits: 4, lastAck: 3500), SocketError.TimedOut));

    [Fact]
    public void A_closed_window_with_data_waiting_and_probes_answered_is_a_stalled_reader()
    {
        // Measured: state 7, probes 0, retransmits 0, snd_wnd 0, notsent 2,985,984 B, last_ack_recv 32 ms.
        var info = Info(TcpConnectionInfo.Closed, lastAck: 32, notSent: 2_985_984, sendWindow: 0);

        Assert.Equal(LostConnectionCause.ZeroWindow, Classify(info, SocketError.TimedOut));
        Assert.Equal(LostConnectionCause.ZeroWindow, Classify(info, error: null));
    }

    [Fact]
    public void A_closed_window_whose_probes_went_unanswered_is_a_peer_that_stopped_answering() =>
        Assert.Equal(LostConnectionCause.UserTimeout,
            Classify(Info(TcpConnectionInfo.Closed, probes: 3, lastAck: 3300, notSent: 65536, sendWindow: 0), SocketError.TimedOut));

    [Fact]
    public void An_open_window_is_not_a_stalled_reader() =>
        Assert.Equal(LostConnectionCause.None, Classify(Info(TcpConnectionInfo.Closed, notSent: 65536, sendWindow: 65536), error: null));

    [Fact]
    public void The_kernels_verdict_read_before_the_socket_is_marked_closed_still_tells_the_cause()
    {
        // tcp_write_err wakes the receive with ETIMEDOUT before tcp_done sets TCP_CLOSE: a fast reader sees the state
        // still established, with the verdict's counters.
        var info = Info(TcpConnectionInfo.Established, probes: 2, lastAck: 3000);

        Assert.Equal(LostConnectionCause.KeepAliveTimeout, Classify(info, SocketError.TimedOut));
        Assert.Equal(LostConnectionCause.None, Classify(info, error: null));
    }

    [Fact]
    public void Only_a_timeout_without_TCP_INFO_is_the_fallback_timeout()
    {
        Assert.Equal(LostConnectionCause.Timeout, Classify(null, SocketError.TimedOut));
        Assert.Equal(LostConnectionCause.None, Classify(null, SocketError.ConnectionReset));
    }

    [Fact]
    public void A_reset_answering_a_probe_is_a_probe_reset() =>
        Assert.Equal(LostConnectionCause.ProbeReset, Classify(Info(TcpConnectionInfo.Closed, probes: 1, lastAck: 1500), SocketError.ConnectionReset));

    [Fact]
    public void Without_the_receive_error_the_user_timeout_rule_tells_a_timeout_from_a_reset()
    {
        var options = new KeepAliveOptions { Idle = TimeSpan.FromSeconds(1), Interval = TimeSpan.FromSeconds(1), ProbeCount = 2, UserTimeout = TimeSpan.FromSeconds(10) };

        // With a user timeout Linux ignores ProbeCount: 9 probes and 10 s of silence is its verdict, 3 probes and 4 s a reset.
        Assert.Equal(LostConnectionCause.KeepAliveTimeout, LostConnectionClassifier.Classify(Info(TcpConnectionInfo.Closed, probes: 9, lastAck: 10_100), null, options));
        Assert.Equal(LostConnectionCause.ProbeReset, LostConnectionClassifier.Classify(Info(TcpConnectionInfo.Closed, probes: 3, lastAck: 4000), null, options));
    }

    private static LostConnectionCause Classify(TcpConnectionInfo? info, SocketError? error) => LostConnectionClassifier.Classify(info, error, Policy);

    private static TcpConnectionInfo Info(byte state, byte retransmits = 0, byte probes = 0, uint lastAck = 0, uint notSent = 0, uint? sendWindow = 65536) =>
        new(state, retransmits, RtoMicroseconds: 200_000, probes, Unacked: 0, LastDataReceivedMilliseconds: lastAck, lastAck, RttMicroseconds: 50, notSent, sendWindow);
}
