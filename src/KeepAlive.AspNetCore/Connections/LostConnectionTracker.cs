using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace KeepAlive.AspNetCore;

/// <summary>
/// Tells whether a connection was lost, and reports it once: it watches the connection's end (Kestrel's abort, a failed
/// receive or send, its disposal), reads TCP_INFO at the first sign of it, while the socket is open, and judges from
/// that what the kernel, or a timer above TCP, did (<see cref="LostConnectionClassifier"/>). A field of every connection
/// (<see cref="KeepAliveConnection"/>), 16 bytes: what is known of the end, the descriptor a waiting write holds, and
/// when the connection was accepted.
/// </summary>
/// <remarks>
/// Why at Kestrel's abort: when the kernel kills a connection, Kestrel's own ConnectionClosed callback disposes the
/// socket before any later callback can read it, but Kestrel's HTTP layer first aborts through the context it was given.
/// A kernel verdict is reported when Kestrel completes the connection (<see cref="IConnectionCompleteFeature"/>), after
/// the receive error has usually surfaced; a timer above TCP's, at once, before Kestrel records
/// <c>kestrel.connection.duration</c>, so that the cause reaches its tags.
/// </remarks>
internal struct LostConnectionTracker
{
    private EndingEvidence _ending;
    // While a write waits for the peer: a descriptor of the socket's own, through which a verdict the output meets first
    // is read (the transport has closed its socket by then).
    private WaitingWriteDescriptor _waitingWrite;
    // When it was accepted (Environment.TickCount, ms): a connection that ends gracefully is read at its end only once it
    // is old enough for a timer to have found its peer silent.
    private int _acceptedAt;

    /// <summary>The connection was accepted now.</summary>
    public void Start() => _acceptedAt = Environment.TickCount;

    /// <summary>
    /// Kestrel aborts the connection. It passes no reason (null, against the annotation) when the transport completed:
    /// the peer closed, or the kernel ended it. Any other abort is the decision of the application, its framework or Kestrel.
    /// </summary>
    public void OnAbort(KeepAliveConnection connection, ConnectionAbortedException? reason) =>
        OnEnding(connection, aboveTcp: reason is not null, AbortOrigin.IsApplicationAbort(reason), AbortOrigin.IsMinimumResponseDataRate(reason));

    /// <summary>A read of the transport failed with <paramref name="exception"/>: the connection is ending.</summary>
    public void OnReceiveFailed(KeepAliveConnection connection, Exception exception)
    {
        if (FindSocketError(exception) is { } error)
            _ending.RecordError(error);
        OnEnding(connection, aboveTcp: false, applicationAbort: false, minimumDataRate: false);
    }

    /// <summary>
    /// A flush of the transport failed with <paramref name="exception"/>: keeps its socket error, and tells whether it is
    /// the kernel giving up on the peer, which the output hides from Kestrel (see <see cref="KeepAliveConnectionOutput"/>).
    /// </summary>
    public bool OnSendFailed(KeepAliveConnection connection, Exception exception)
    {
        var error = FindSocketError(exception);
        if (error is { } socketError)
            _ending.RecordError(socketError);
        if (!LostConnectionClassifier.IsKernelVerdict(error))
            return false;
        // The output took the verdict first: the transport has closed its socket, so TCP_INFO is read through the
        // descriptor the waiting write kept, now, before that write lets it go.
        if (!_ending.KernelClosed && ReadTcpInfo(connection, out var info))
            _ending.Record(info);
        return true;
    }

    /// <summary>
    /// A write is about to wait for the peer (its window or the send buffer is full): keep a way to TCP_INFO, where the
    /// kernel's verdict can come while it waits (<see cref="KeepAlivePolicy.HoldsDescriptorWhileWriting"/>).
    /// </summary>
    public void OnWriteWaiting(KeepAliveConnection connection)
    {
        if (connection.Policy.HoldsDescriptorWhileWriting)
            _waitingWrite.Hold(connection.Socket);
    }

    /// <summary>The waiting write is over.</summary>
    public void OnWriteDone() => _waitingWrite.Release();

    /// <summary>The connection is over: report it if it was lost, and let go of what the tracker holds.</summary>
    public void OnEnd(KeepAliveConnection connection)
    {
        // Ended with no abort and no failed receive: closed gracefully by Kestrel (a GOAWAY after its HTTP/2 keepalive ping
        // went unanswered, its keep-alive timeout) or by the app. One getsockopt tells whether its peer was silent, spent
        // only where a timer could have found it so (the socket is still open: the transport closes it after this).
        var policy = connection.Policy;
        if (_ending.IsOpen && !policy.IsStopping && policy.MayHaveFoundSilentPeer(Age) && _ending.TryBegin() && ReadTcpInfo(connection, out var info))
        {
            _ending.Record(info);
            _ending.RecordEnder(ConnectionEnder.Kestrel);
        }
        Report(connection, transportDone: true);
        _waitingWrite.Release();
    }

    /// <summary>Reports the connection if it was lost, once.</summary>
    /// <param name="connection">The connection.</param>
    /// <param name="transportDone">Whether the HTTP layer is done with the transport's pipes, which may then be looked into.</param>
    public void Report(KeepAliveConnection connection, bool transportDone)
    {
        if (!_ending.TryReport())
            return;
        if (transportDone && _ending.KernelClosed && _ending.Error is null)
            FindTransportError(connection);

        var policy = connection.Policy;
        var cause = LostConnectionClassifier.Classify(_ending, policy.Options);
        if (cause == LostConnectionCause.None)
            return;

        // From the peer's last sign of life (acknowledgements of probes included) to the end: what it cost.
        TimeSpan? silence = _ending.HasReading ? _ending.SinceLastAck : null;
        policy.ReportLost(connection, connection.Endpoint, cause, silence, _ending.Ender);
        KestrelConnectionTags.AddCause(connection.Features, cause);
    }

    private readonly TimeSpan Age => TimeSpan.FromMilliseconds(unchecked((uint)(Environment.TickCount - _acceptedAt)));

    /// <param name="connection">The connection.</param>
    /// <param name="aboveTcp">Whether the application, its framework or Kestrel ended it (an abort with a reason).</param>
    /// <param name="applicationAbort">Whether that abort was <c>HttpContext.Abort()</c>, which a ping timer above TCP may be behind.</param>
    /// <param name="minimumDataRate">Whether that abort was Kestrel's, for a response not read at its minimum data rate.</param>
    private void OnEnding(KeepAliveConnection connection, bool aboveTcp, bool applicationAbort, bool minimumDataRate)
    {
        // The first sign of the end: TCP_INFO is read now, while the socket is open (a normal close costs this one getsockopt).
        if (!_ending.TryBegin())
            return;
        if (ReadTcpInfo(connection, out var info))
            _ending.Record(info);

        if (_ending.KernelClosed || LostConnectionClassifier.IsKernelVerdict(_ending.Error))
        {
            // The kernel ended it: reported when Kestrel completes the connection, when its error has usually surfaced.
            ReportWhenCompleted(connection);
            return;
        }
        if (aboveTcp && _ending.HasReading && !_ending.PeerClosed)
        {
            // The kernel holds it still: judged now, while TCP_INFO is as the timer above TCP found it, and reported before
            // Kestrel records the connection's end, so that its tags get the cause.
            _ending.RecordEnder(connection.Policy.IsStopping ? ConnectionEnder.Shutdown
                : minimumDataRate ? ConnectionEnder.KestrelTimeout
                : ConnectionEnder.Application);
            if (_ending.Ender == ConnectionEnder.Application && NeedsAbortOrigin(connection, applicationAbort))
                _ending.RecordEnder(AbortOrigin.Find());
            Report(connection, transportDone: false);
        }
        // Otherwise it looked normal; a verdict the output meets later is still reported when the connection ends.
    }

    // Which timer aborted matters for the cause of a connection whose peer answers (a ping through a proxy ends in the
    // application's abort; Kestrel's minimum data rate, for a closed window), and for the log line of a lost one.
    private readonly bool NeedsAbortOrigin(KeepAliveConnection connection, bool applicationAbort) =>
        applicationAbort || _ending.WindowClosed || LostConnectionClassifier.Classify(_ending, connection.Policy.Options) != LostConnectionCause.None;

    private static void ReportWhenCompleted(KeepAliveConnection connection)
    {
        try
        {
            if (connection.Features.Get<IConnectionCompleteFeature>() is { } complete)
            {
                complete.OnCompleted(static state => { ((KeepAliveConnection)state).ReportLoss(); return Task.CompletedTask; }, connection);
                return;
            }
        }
        catch (InvalidOperationException)
        {
            // Kestrel has completed the connection already.
        }
        connection.ReportLoss(transportDone: false);
    }

    // TCP_INFO through the socket, or through the descriptor a waiting write kept once the transport closed the socket.
    private bool ReadTcpInfo(KeepAliveConnection connection, out TcpConnectionInfo info) =>
        TcpConnectionInfo.TryRead(connection.Socket, out info) || _waitingWrite.TryReadTcpInfo(out info);

    // The kernel ended the connection and neither our receive nor our send saw its error: Kestrel's socket transport keeps
    // it as what its pipes complete with (SocketConnection: the input with the receive's error, the output with the
    // send's), where no one looks once the HTTP layer has stopped reading and writing.
    private void FindTransportError(KeepAliveConnection connection)
    {
        try
        {
            if (connection.TransportInput.TryRead(out var result))
                connection.TransportInput.AdvanceTo(result.Buffer.Start);
        }
        catch (Exception ex)
        {
            Keep(ref _ending, ex);
        }
        try
        {
            var flush = connection.TransportOutput.FlushAsync();
            if (flush.IsCompleted)
                flush.GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            Keep(ref _ending, ex);
        }

        // A pipe already completed by its user says nothing; one completed with the transport's error says it.
        static void Keep(ref EndingEvidence ending, Exception exception)
        {
            if (FindSocketError(exception) is { } error)
                ending.RecordError(error);
        }
    }

    private static SocketError? FindSocketError(Exception? exception)
    {
        for (; exception is not null; exception = exception.InnerException)
        {
            if (exception is SocketException socketException)
                return socketException.SocketErrorCode;
        }
        return null;
    }
}
