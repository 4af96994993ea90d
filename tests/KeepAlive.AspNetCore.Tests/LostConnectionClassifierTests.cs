using System.Net.Sockets;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// The cause of a lost connection, from TCP_INFO as it was read at the connection's end (the readings of FACTS.md and of
/// the fault tests), the socket error seen, and what ended it: the kernel's timers, or a timer above TCP.
/// </summary>
public class LostConnectionClassifierTests
{
    private static readonly KeepAliveOptions Policy = new() { Idle = TimeSpan.FromSeconds(1), Interval = TimeSpan.FromSeconds(1), ProbeCount = 2 };
    private const byte Closed = TcpConnectionInfo.Closed, Established = TcpConnectionInfo.Established, CloseWait = 8;

    [Fact]
    public void Unanswered_keepalive_probes_are_a_keepalive_timeout() =>
        Assert.Equal(LostConnectionCause.KeepAliveTimeout, Classify(Closed, probes: 2, lastAck: 3000, error: SocketError.TimedOut));

    [Fact]
    public void Retransmissions_are_a_user_timeout() =>
        Assert.Equal(LostConnectionCause.UserTimeout, Classify(Closed, retransmits: 4, lastAck: 3500, error: SocketError.TimedOut));

    [Fact]
    public void A_closed_window_with_data_waiting_and_probes_answered_is_a_stalled_reader() =>
        // Measured: state 7, probes 0, retransmits 0, snd_wnd 0, notsent 2,985,984 B, last_ack_recv 32 ms.
        Assert.Equal(LostConnectionCause.ZeroWindow, Classify(Closed, lastAck: 32, notSent: 2_985_984, sendWindow: 0, error: SocketError.TimedOut));

    [Fact]
    public void A_closed_window_whose_probes_went_unanswered_is_a_peer_that_stopped_answering() =>
        Assert.Equal(LostConnectionCause.UserTimeout, Classify(Closed, probes: 3, lastAck: 3300, notSent: 65536, sendWindow: 0, error: SocketError.TimedOut));

    [Theory]
    [InlineData(null)]
    [InlineData(SocketError.ConnectionReset)]
    public void A_reset_is_never_a_timeout_whatever_was_outstanding(SocketError? error)
    {
        // An aborted download (the client closes with unread data: a reset) while its window was closed, or while data was
        // in flight: the kinds of timeout need the kernel's ETIMEDOUT in hand.
        Assert.Equal(LostConnectionCause.None, Classify(Closed, lastAck: 40, notSent: 2_000_000, sendWindow: 0, error: error));
        Assert.Equal(LostConnectionCause.None, Classify(Closed, retransmits: 1, unacked: 3, lastAck: 300, error: error));
    }

    [Fact]
    public void An_open_window_is_not_a_stalled_reader() =>
        Assert.Equal(LostConnectionCause.None, Classify(Closed, notSent: 65536, sendWindow: 65536));

    [Fact]
    public void The_kernels_verdict_read_before_the_socket_is_marked_closed_still_tells_the_cause()
    {
        // tcp_write_err wakes the receive with ETIMEDOUT before tcp_done sets TCP_CLOSE: a fast reader sees the state
        // still established, with the verdict's counters.
        Assert.Equal(LostConnectionCause.KeepAliveTimeout, Classify(Established, probes: 2, lastAck: 3000, error: SocketError.TimedOut));
        Assert.Equal(LostConnectionCause.None, Classify(Established, probes: 2, lastAck: 3000));
    }

    [Fact]
    public void Only_a_timeout_without_TCP_INFO_is_the_fallback_timeout()
    {
        Assert.Equal(LostConnectionCause.Timeout, Classify(Without(SocketError.TimedOut)));
        Assert.Equal(LostConnectionCause.None, Classify(Without(SocketError.ConnectionReset)));
        Assert.Equal(LostConnectionCause.Unreachable, Classify(Without(SocketError.HostUnreachable)));
    }

    [Fact]
    public void A_reset_answering_a_probe_is_a_probe_reset() =>
        Assert.Equal(LostConnectionCause.ProbeReset, Classify(Closed, probes: 1, lastAck: 1500, error: SocketError.ConnectionReset));

    [Fact]
    public void Without_the_receive_error_the_user_timeout_rule_tells_a_timeout_from_a_reset()
    {
        var options = new KeepAliveOptions { Idle = TimeSpan.FromSeconds(1), Interval = TimeSpan.FromSeconds(1), ProbeCount = 2, UserTimeout = TimeSpan.FromSeconds(10) };

        // With a user timeout Linux ignores ProbeCount: 9 probes and 10 s of silence is its verdict, 3 probes and 4 s a reset.
        Assert.Equal(LostConnectionCause.KeepAliveTimeout, LostConnectionClassifier.Classify(Evidence(Closed, probes: 9, lastAck: 10_100), options));
        Assert.Equal(LostConnectionCause.ProbeReset, LostConnectionClassifier.Classify(Evidence(Closed, probes: 3, lastAck: 4000), options));
    }

    [Theory]
    [InlineData(nameof(ConnectionEnder.Application))]
    [InlineData(nameof(ConnectionEnder.WebSocketPing))]
    [InlineData(nameof(ConnectionEnder.SignalR))]
    [InlineData(nameof(ConnectionEnder.Kestrel))]
    public void A_timer_above_TCP_that_ends_a_connection_whose_sent_data_goes_unacknowledged_counts_an_app_timeout(string noticer)
    {
        var ender = Enum.Parse<ConnectionEnder>(noticer);
        // Measured: a WebSocket ping unanswered for its 2 s KeepAliveTimeout: established, retransmits 3, unacked 1, 5.0 s since the last ACK.
        Assert.Equal(LostConnectionCause.AppTimeout, Classify(Established, retransmits: 3, unacked: 1, lastAck: 5004, ender: ender));
        // A live peer answers within a round trip: one retransmission unanswered for less than a second is no loss.
        Assert.Equal(LostConnectionCause.None, Classify(Established, retransmits: 1, unacked: 1, lastAck: 400, ender: ConnectionEnder.Application));
    }

    [Fact]
    public void A_timer_above_TCP_that_ends_an_idle_connection_whose_keepalive_probe_goes_unanswered_counts_an_app_timeout()
    {
        // Idle 1 s: the first probe went out after 1 s of silence; a second later it is still unanswered.
        Assert.Equal(LostConnectionCause.AppTimeout, Classify(Established, probes: 1, lastAck: 2100, ender: ConnectionEnder.Application));
        Assert.Equal(LostConnectionCause.None, Classify(Established, probes: 1, lastAck: 1300, ender: ConnectionEnder.Application));
    }

    [Fact]
    public void Kestrel_retiring_an_idle_HTTP2_connection_whose_probes_go_unanswered_counts_an_app_timeout_though_its_GOAWAY_is_unacknowledged()
    {
        // The GOAWAY went out a moment ago, not retransmitted yet; the keepalive probe before it has gone unanswered.
        Assert.Equal(LostConnectionCause.AppTimeout, Classify(Established, probes: 1, unacked: 1, lastAck: 3200, ender: ConnectionEnder.Application));
        // A live peer answered its probes (the kernel's count is back at zero): its GOAWAY's acknowledgement is on its way.
        Assert.Equal(LostConnectionCause.None, Classify(Established, probes: 0, unacked: 1, lastAck: 3200, ender: ConnectionEnder.Application));
    }

    [Fact]
    public void A_live_peer_the_app_aborts_is_not_lost_unless_a_ping_timer_through_a_proxy_aborted_it()
    {
        Assert.Equal(LostConnectionCause.None, Classify(Established, lastAck: 20, ender: ConnectionEnder.Application));
        // The TCP peer (a proxy) answers; the WebSocket's PING, or SignalR's client timeout, went unanswered behind it.
        Assert.Equal(LostConnectionCause.AppPingTimeout, Classify(Established, lastAck: 20, ender: ConnectionEnder.WebSocketPing));
        Assert.Equal(LostConnectionCause.AppPingTimeout, Classify(Established, lastAck: 20, ender: ConnectionEnder.SignalR));
        // Kestrel closing an idle connection whose peer answers (its keep-alive timeout) is the normal course.
        Assert.Equal(LostConnectionCause.None, Classify(Established, lastAck: 20, ender: ConnectionEnder.Kestrel));
    }

    [Fact]
    public void A_stalled_reader_Kestrel_ends_for_its_minimum_data_rate_counts_an_app_zero_window()
    {
        Assert.Equal(LostConnectionCause.AppZeroWindow, Classify(Established, lastAck: 30, notSent: 1_000_000, sendWindow: 0, ender: ConnectionEnder.KestrelTimeout));
        // The app's own abort of a download that happens to wait is not a verdict on its reader.
        Assert.Equal(LostConnectionCause.None, Classify(Established, lastAck: 30, notSent: 1_000_000, sendWindow: 0, ender: ConnectionEnder.Application));
        // Window probes unanswered: that reader stopped answering too.
        Assert.Equal(LostConnectionCause.AppTimeout, Classify(Established, probes: 2, lastAck: 3000, notSent: 1_000_000, sendWindow: 0, ender: ConnectionEnder.Application));
    }

    [Fact]
    public void Nothing_above_TCP_is_a_loss_when_the_peer_closed_or_the_host_is_shutting_down()
    {
        Assert.Equal(LostConnectionCause.None, Classify(CloseWait, retransmits: 3, unacked: 1, lastAck: 5000, ender: ConnectionEnder.Application));
        Assert.Equal(LostConnectionCause.None, Classify(Established, retransmits: 3, unacked: 1, lastAck: 5000, ender: ConnectionEnder.Shutdown));
        Assert.Equal(LostConnectionCause.None, Classify(Established, retransmits: 3, unacked: 1, lastAck: 5000, ender: ConnectionEnder.Transport));
    }

    [Fact]
    public void Every_cause_is_named_apart_from_Kestrels_own_error_types()
    {
        var names = LostConnectionClassifier.Causes.Select(c => c.ToErrorType()).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        // Kestrel's keep_alive_timeout is a normal idle close: one underscore must not tell it from a vanished client.
        Assert.All(names, n => Assert.True(n.StartsWith("tcp_", StringComparison.Ordinal) || n.StartsWith("app_", StringComparison.Ordinal), n));
    }

    private static LostConnectionCause Classify(in EndingEvidence evidence) => LostConnectionClassifier.Classify(evidence, Policy);

    private static LostConnectionCause Classify(byte state, byte retransmits = 0, byte probes = 0, uint unacked = 0, uint lastAck = 0, uint notSent = 0,
        uint? sendWindow = 65536, SocketError? error = null, ConnectionEnder ender = ConnectionEnder.Transport) =>
        Classify(Evidence(state, retransmits, probes, unacked, lastAck, notSent, sendWindow, error, ender));

    private static EndingEvidence Evidence(byte state, byte retransmits = 0, byte probes = 0, uint unacked = 0, uint lastAck = 0, uint notSent = 0,
        uint? sendWindow = 65536, SocketError? error = null, ConnectionEnder ender = ConnectionEnder.Transport)
    {
        var evidence = new EndingEvidence();
        evidence.Record(new TcpConnectionInfo(state, retransmits, RtoMicroseconds: 200_000, probes, unacked, LastDataReceivedMilliseconds: lastAck, lastAck,
            RttMicroseconds: 50, notSent, sendWindow));
        if (error is { } e)
            evidence.RecordError(e);
        evidence.RecordEnder(ender);
        return evidence;
    }

    // No TCP_INFO: the socket was gone, or not Linux.
    private static EndingEvidence Without(SocketError error)
    {
        var evidence = new EndingEvidence();
        evidence.RecordError(error);
        return evidence;
    }
}
