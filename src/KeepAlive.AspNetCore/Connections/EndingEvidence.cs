using System.Net.Sockets;

namespace KeepAlive.AspNetCore;

/// <summary>
/// What is known of how a connection ended, from the first sign of its end until it is reported: TCP_INFO as read then
/// (the few fields its cause and its silence need), the socket error its receive or send met, and what ended it. Packed
/// into 8 bytes, a field of every connection (<see cref="KeepAliveConnection"/>); <see cref="LostConnectionClassifier"/>
/// tells the cause from it.
/// </summary>
internal struct EndingEvidence
{
    private const byte Open = 0, Judged = 1, Reported = 2;

    private uint _lastAckMilliseconds;
    private byte _probes;
    private Reading _reading;
    private byte _errorAndEnder; // low nibble: the SocketErrorKind; high nibble: the ConnectionEnder
    private byte _stage;

    /// <summary>What TCP_INFO showed, as flags: whether it was read at all, and what it said.</summary>
    [Flags]
    private enum Reading : byte
    {
        None = 0,
        Read = 1,
        KernelClosed = 2, // TCP_CLOSE: the kernel ended it (a timeout or a reset)
        PeerClosed = 4, // a FIN exchanged: CLOSE_WAIT, FIN_WAIT, LAST_ACK, CLOSING
        Retransmitting = 8, // tcpi_retransmits > 0
        Unacknowledged = 16, // tcpi_unacked > 0
        WindowClosed = 32, // the peer's window closed with data waiting
    }

    // The socket errors the causes turn on, in 4 bits.
    private enum SocketErrorKind : byte { None, TimedOut, ConnectionReset, HostUnreachable, NetworkUnreachable, NetworkReset, Other }

    /// <summary>Whether nothing has been seen of the connection's end yet.</summary>
    public bool IsOpen => Volatile.Read(ref _stage) == Open;

    /// <summary>Whether it was reported (lost or not) already.</summary>
    public bool IsReported => Volatile.Read(ref _stage) == Reported;

    /// <summary>Whether TCP_INFO was read and kept.</summary>
    public readonly bool HasReading => (_reading & Reading.Read) != 0;

    public readonly bool KernelClosed => (_reading & Reading.KernelClosed) != 0;

    public readonly bool PeerClosed => (_reading & Reading.PeerClosed) != 0;

    public readonly bool Retransmitting => (_reading & Reading.Retransmitting) != 0;

    public readonly bool Unacknowledged => (_reading & Reading.Unacknowledged) != 0;

    public readonly bool WindowClosed => (_reading & Reading.WindowClosed) != 0;

    /// <summary>Unanswered keepalive or zero-window probes when it was read.</summary>
    public readonly byte Probes => _probes;

    /// <summary>Since the peer's last sign of life (acknowledgements of probes included) when it was read.</summary>
    public readonly TimeSpan SinceLastAck => TimeSpan.FromMilliseconds(_lastAckMilliseconds);

    /// <summary>The socket error the receive or the send met first, or <see langword="null"/>.</summary>
    public readonly SocketError? Error => (SocketErrorKind)(_errorAndEnder & 0xF) switch
    {
        SocketErrorKind.TimedOut => SocketError.TimedOut,
        SocketErrorKind.ConnectionReset => SocketError.ConnectionReset,
        SocketErrorKind.HostUnreachable => SocketError.HostUnreachable,
        SocketErrorKind.NetworkUnreachable => SocketError.NetworkUnreachable,
        SocketErrorKind.NetworkReset => SocketError.NetworkReset,
        SocketErrorKind.Other => SocketError.SocketError,
        _ => null,
    };

    /// <summary>What ended the connection.</summary>
    public readonly ConnectionEnder Ender => (ConnectionEnder)(_errorAndEnder >> 4);

    /// <summary>The first sign of the end: <see langword="true"/> for the one caller that sees it first, which records the rest.</summary>
    public bool TryBegin() => Interlocked.CompareExchange(ref _stage, Judged, Open) == Open;

    /// <summary>The report is made now: <see langword="true"/> once, for the one caller that makes it.</summary>
    public bool TryReport() => Interlocked.Exchange(ref _stage, Reported) != Reported;

    /// <summary>Keeps what TCP_INFO says of the peer.</summary>
    public void Record(in TcpConnectionInfo info)
    {
        var reading = Reading.Read;
        if (info.State == TcpConnectionInfo.Closed)
            reading |= Reading.KernelClosed;
        else if (info.State != TcpConnectionInfo.Established)
            reading |= Reading.PeerClosed;
        if (info.Retransmits > 0)
            reading |= Reading.Retransmitting;
        if (info.Unacked > 0)
            reading |= Reading.Unacknowledged;
        if (info.WindowClosedWithDataWaiting)
            reading |= Reading.WindowClosed;
        _lastAckMilliseconds = info.LastAckReceivedMilliseconds;
        _probes = info.Probes;
        _reading = reading;
    }

    /// <summary>Keeps the first socket error worth telling (a timeout, a reset, the network's report); later ones are the same end seen again.</summary>
    public void RecordError(SocketError error)
    {
        var kind = error switch
        {
            SocketError.TimedOut => SocketErrorKind.TimedOut,
            SocketError.ConnectionReset => SocketErrorKind.ConnectionReset,
            SocketError.HostUnreachable => SocketErrorKind.HostUnreachable,
            SocketError.NetworkUnreachable => SocketErrorKind.NetworkUnreachable,
            SocketError.NetworkReset => SocketErrorKind.NetworkReset,
            // The other side of one end: EPIPE (Shutdown) or a socket the transport closed (OperationAborted).
            SocketError.Shutdown or SocketError.OperationAborted or SocketError.Interrupted => SocketErrorKind.None,
            _ => SocketErrorKind.Other,
        };
        if (kind == SocketErrorKind.None)
            return;
        for (var current = Volatile.Read(ref _errorAndEnder); (current & 0xF) == 0; current = Volatile.Read(ref _errorAndEnder))
        {
            if (Interlocked.CompareExchange(ref _errorAndEnder, (byte)(current | (byte)kind), current) == current)
                return;
        }
    }

    /// <summary>Keeps what ended the connection.</summary>
    public void RecordEnder(ConnectionEnder ender)
    {
        for (var current = Volatile.Read(ref _errorAndEnder); ; current = Volatile.Read(ref _errorAndEnder))
        {
            if (Interlocked.CompareExchange(ref _errorAndEnder, (byte)((current & 0xF) | ((byte)ender << 4)), current) == current)
                return;
        }
    }
}
