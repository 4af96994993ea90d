namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// How TCP_INFO of an open connection, or the timer a socket dump reports for it, becomes the state an operator sees on
/// <c>keepalive.connections</c> and in the connection view. The fields are as Linux reports them in each case (measured
/// in FACTS.md and the fault tests, which compare the two readings on peers really gone).
/// </summary>
public class ConnectionStateTests
{
    [Theory]
    // Idle, answered: nothing outstanding.
    [InlineData(0, 0, 0u, 0u, 65_483u, "responsive")]
    // Data in flight and acknowledged as it goes: a busy, healthy peer.
    [InlineData(0, 0, 3u, 0u, 65_483u, "responsive")]
    // An idle peer gone silent: keepalive probes unanswered.
    [InlineData(0, 2, 0u, 0u, 65_483u, "probing")]
    // A peer gone while the server writes: retransmission timeouts.
    [InlineData(3, 0, 5u, 0u, 65_483u, "retransmitting")]
    // A live peer that stopped reading: its window closed with data waiting, zero-window probes answered or not.
    [InlineData(0, 0, 0u, 2_985_984u, 0u, "zero_window")]
    [InlineData(0, 3, 0u, 2_985_984u, 0u, "zero_window")]
    // Probes with data outstanding are not keepalive probes (the kernel sends those only when nothing is): not "probing".
    [InlineData(0, 1, 2u, 0u, 65_483u, "responsive")]
    public void The_state_follows_what_TCP_INFO_reports(byte retransmits, byte probes, uint unacked, uint notSent, uint window, string expected)
    {
        var info = Established(retransmits, probes, unacked, notSent, window);

        Assert.Equal(expected, ConnectionStateClassifier.Of(info).ToAttribute());
    }

    [Theory]
    // No timer (keepalive off, nothing in flight), or a healthy peer's: the keepalive timer with no probe out, the
    // retransmission timer with no timeout yet (data in flight, or a loss probe).
    [InlineData(0, 0, "responsive")]
    [InlineData(2, 0, "responsive")]
    [InlineData(1, 0, "responsive")]
    [InlineData(2, 2, "probing")]
    [InlineData(1, 3, "retransmitting")]
    // The zero-window probe timer, its probes answered (a live peer that stopped reading) or not.
    [InlineData(4, 0, "zero_window")]
    [InlineData(4, 5, "zero_window")]
    // TIME_WAIT's timer: never asked for, and not a state of a held connection.
    [InlineData(3, 0, "responsive")]
    public void The_state_follows_the_timer_the_kernel_runs_as_a_socket_dump_reports_it(byte timer, byte count, string expected)
    {
        Assert.Equal(expected, ConnectionStateClassifier.Of(timer, count).ToAttribute());
    }

    [Fact]
    public void A_closed_window_is_not_read_where_the_kernel_does_not_report_it()
    {
        // tcpi_snd_wnd is Linux 5.4+; before, SendWindow is unknown, not zero.
        var info = Established(retransmits: 0, probes: 0, unacked: 0, notSent: 4096, window: null);

        Assert.Equal(ConnectionState.Responsive, ConnectionStateClassifier.Of(info));
    }

    [Fact]
    public void Every_state_parses_back_from_its_attribute_value_and_nothing_else_does()
    {
        foreach (var state in ConnectionStateClassifier.States)
        {
            Assert.True(ConnectionStateClassifier.TryParse(state.ToAttribute(), out var parsed));
            Assert.Equal(state, parsed);
        }
        Assert.False(ConnectionStateClassifier.TryParse("dead", out _));
        Assert.Equal("zero_window, retransmitting, probing, responsive", ConnectionStateClassifier.AllowedValues);
    }

    private static TcpConnectionInfo Established(byte retransmits, byte probes, uint unacked, uint notSent, uint? window) => new(
        TcpConnectionInfo.Established, retransmits, RtoMicroseconds: 204_000, probes, unacked, LastDataReceivedMilliseconds: 0,
        LastAckReceivedMilliseconds: 0, RttMicroseconds: 50, NotSentBytes: notSent, SendWindow: window);
}
