using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace KeepAlive.AspNetCore;

/// <summary>
/// A TCP connection under a keepalive policy, as Kestrel's HTTP layer sees it: everything is the
/// transport's own connection, except that it notices when the kernel ended the connection because
/// the peer stopped answering, tells why, and reports it once.
/// </summary>
/// <remarks>
/// Why here: when the kernel kills a connection, Kestrel's own ConnectionClosed callback disposes the
/// socket before any later callback can read it, but Kestrel's HTTP layer first aborts through the
/// context it was given. So <see cref="Abort(ConnectionAbortedException)"/> reads TCP_INFO while the
/// socket is still open; the report is made when Kestrel completes the connection
/// (<see cref="IConnectionCompleteFeature"/>), after the receive error has usually surfaced and before
/// Kestrel records <c>kestrel.connection.duration</c>, so the cause can be added to its tags.
/// </remarks>
internal sealed class KeepAliveConnection : ConnectionContext, IConnectionTransportFeature
{
    private const byte Open = 0, Ending = 1, Reported = 2;

    private readonly ConnectionContext _inner;
    private readonly KeepAliveEndpoint _endpoint;
    private readonly KeepAlivePolicies? _registry;
    // Null until Kestrel first reads it; then the input decorator over the transport, or what TLS put over it.
    private IDuplexPipe? _transport;
    // What the kernel said when the connection ended, in the few fields the report needs (TCP_INFO is 232 bytes, and
    // every connection carries these); _endedState 0 (no TCP state) until then.
    private uint _endedLastAckMilliseconds;
    private byte _endedState, _endedRetransmits, _endedProbes;
    private bool _endedWindowClosed;
    private short _receiveError;
    private byte _state;

    /// <param name="inner">The transport's connection.</param>
    /// <param name="policy">The policy its socket has now.</param>
    /// <param name="endpoint">Where it was accepted.</param>
    /// <param name="registry">Tracks it for reloads (and gives it the policy in force once it is tracked); none for a policy set in code.</param>
    /// <param name="source">Where its policy comes from (see <see cref="PolicySource"/>).</param>
    public KeepAliveConnection(ConnectionContext inner, KeepAlivePolicy policy, KeepAliveEndpoint endpoint, KeepAlivePolicies? registry, Func<KeepAlivePolicy?>? source)
    {
        _inner = inner;
        Policy = policy;
        PolicySource = source;
        _endpoint = endpoint;
        // The transport as the layers above see it (decorated, or TLS over it), also for apps that take it from
        // HttpContext.Features (which falls back to the connection's). A route's policy finds the connection
        // there too, at no cost per connection.
        inner.Features.Set<IConnectionTransportFeature>(this);
        _registry = registry;
        registry?.Add(this);
    }

    /// <summary>The transport's own output (what <see cref="KeepAliveConnectionOutput"/> forwards to).</summary>
    internal PipeWriter TransportOutput => _inner.Transport.Output;

    /// <summary>Links of the registry's list of open connections (<see cref="KeepAlivePolicies"/>).</summary>
    internal KeepAliveConnection? Previous { get; set; }

    internal KeepAliveConnection? Next { get; set; }

    /// <summary>Where the connection was accepted, as metrics name it.</summary>
    public KeepAliveEndpoint Endpoint => _endpoint;

    /// <summary>The connection's TCP socket (the transport's own socket feature).</summary>
    public Socket Socket => Features.Get<IConnectionSocketFeature>()!.Socket;

    /// <summary>The policy in force: an endpoint's own policy replaces the app-wide one.</summary>
    public KeepAlivePolicy Policy { get; private set; }

    /// <summary>
    /// Where <see cref="Policy"/> came from: the default policy, the policy an endpoint or route names, or one
    /// fixed in code. A reload asks it again, so an open connection follows what a new one would get there.
    /// <see langword="null"/>: left as it is.
    /// </summary>
    public Func<KeepAlivePolicy?>? PolicySource { get; private set; }

    /// <summary>
    /// From now on the connection's policy comes from <paramref name="source"/> (an endpoint's mapping, a route's
    /// policy): sets the policy it gives now on the socket, all of its options, unless the socket has it already.
    /// </summary>
    public void UsePolicyFrom(Func<KeepAlivePolicy?>? source)
    {
        // The connection is the lock (no field, no allocation): a reload, a route and the endpoint's middleware may
        // change one connection's policy at once, and each must set one policy's options whole, and the last one.
        lock (this)
        {
            PolicySource = source;
            ApplyPolicyFromSource();
        }
    }

    /// <summary>Sets the policy its source gives now (after a reload), unless the socket has it already.</summary>
    public void Reapply()
    {
        lock (this)
            ApplyPolicyFromSource();
    }

    private void ApplyPolicyFromSource()
    {
        if (PolicySource?.Invoke() is { } policy && policy != Policy)
        {
            Policy = policy;
            policy.SetOn(this);
        }
    }

    public override IDuplexPipe Transport
    {
        get => _transport ?? OnServing();
        // TLS and other layers replace the transport for the layers above; the raw one stays the inner connection's.
        set => _transport = value;
    }

    public override string ConnectionId
    {
        get => _inner.ConnectionId;
        set => _inner.ConnectionId = value;
    }

    public override IFeatureCollection Features => _inner.Features;

    public override IDictionary<object, object?> Items
    {
        get => _inner.Items;
        set => _inner.Items = value;
    }

    public override CancellationToken ConnectionClosed
    {
        get => _inner.ConnectionClosed;
        set => _inner.ConnectionClosed = value;
    }

    public override EndPoint? LocalEndPoint
    {
        get => _inner.LocalEndPoint;
        set => _inner.LocalEndPoint = value;
    }

    public override EndPoint? RemoteEndPoint
    {
        get => _inner.RemoteEndPoint;
        set => _inner.RemoteEndPoint = value;
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        OnEnding();
        _inner.Abort(abortReason);
    }

    public override ValueTask DisposeAsync()
    {
        End();
        return _inner.DisposeAsync();
    }

    /// <summary>The connection is over: report it if it was lost, and stop tracking it.</summary>
    public void End()
    {
        Report();
        _registry?.Remove(this);
    }

    // Kestrel first reads the transport once it serves the connection (TLS or HTTP), after the endpoint's
    // connection middleware that comes before TLS: the policy now is the endpoint's. By then Kestrel has set
    // IConnectionMetricsTagsFeature (present only while kestrel.connection.duration is listened to).
    private Input OnServing()
    {
        Policy.ReportServed(_endpoint);
        Features.Get<IConnectionMetricsTagsFeature>()?.Tags.Add(new("keepalive.policy", Policy.Name));
        var input = new Input(this);
        _transport = input;
        return input;
    }

    // The connection is ending: Kestrel aborts it, or its receive failed. Read TCP_INFO now, while the
    // socket is open. Only a connection the kernel closed with probes or retransmissions outstanding (or
    // whose receive said so) is followed further; a normal close costs this one getsockopt.
    private void OnEnding()
    {
        if (Interlocked.CompareExchange(ref _state, Ending, Open) != Open)
            return;

        // The kernel wakes the receive with its verdict just before it marks the socket closed (tcp_write_err, then
        // tcp_done): with the verdict in hand, TCP_INFO is the verdict's even if the state has not caught up yet.
        if (TcpConnectionInfo.TryRead(Socket, out var info) &&
            (info.State == TcpConnectionInfo.Closed || LostConnectionClassifier.IsKernelVerdict(ReceiveError)) &&
            (info.Probes > 0 || info.Retransmits > 0 || info.WindowClosedWithDataWaiting))
        {
            _endedLastAckMilliseconds = info.LastAckReceivedMilliseconds;
            _endedRetransmits = info.Retransmits;
            _endedProbes = info.Probes;
            _endedWindowClosed = info.WindowClosedWithDataWaiting;
            _endedState = info.State;
        }
        if (EndedInfo is null && !LostConnectionClassifier.IsKernelVerdict(ReceiveError))
        {
            _state = Reported;
            return;
        }

        // Report when Kestrel completes the connection: the receive error has usually surfaced by then.
        try
        {
            if (Features.Get<IConnectionCompleteFeature>() is { } complete)
            {
                complete.OnCompleted(static state => { ((KeepAliveConnection)state).Report(); return Task.CompletedTask; }, this);
                return;
            }
        }
        catch (InvalidOperationException)
        {
            // Kestrel has completed the connection already.
        }
        Report();
    }

    // TCP_INFO as read when the connection ended (the fields kept), or null.
    private TcpConnectionInfo? EndedInfo => _endedState == 0 ? null : new TcpConnectionInfo(
        _endedState, _endedRetransmits, RtoMicroseconds: 0, _endedProbes, Unacked: 0, LastDataReceivedMilliseconds: 0, _endedLastAckMilliseconds, RttMicroseconds: 0,
        NotSentBytes: _endedWindowClosed ? 1u : 0u, SendWindow: _endedWindowClosed ? 0u : null);

    // SocketError values fit a short (the largest is 11004); Success (0) stands for none seen.
    private SocketError? ReceiveError => _receiveError == 0 ? null : (SocketError)_receiveError;

    /// <summary>
    /// The transport's send failed with <paramref name="exception"/>: tells whether it is the kernel giving up on the
    /// peer (which the output hides from Kestrel, see <see cref="KeepAliveConnectionOutput"/>), and keeps it as the
    /// verdict unless the receive said one. TCP_INFO is not read here: the transport closes the socket before it fails
    /// the output, so the input (or Kestrel's abort) reads it, as for any other ending.
    /// </summary>
    public bool OnKernelVerdict(SocketException exception)
    {
        if (!LostConnectionClassifier.IsKernelVerdict(exception.SocketErrorCode))
            return false;
        if (_receiveError == 0)
            _receiveError = (short)exception.SocketErrorCode;
        return true;
    }

    private void OnReceiveFailed(Exception exception)
    {
        if (FindSocketError(exception) is { } error)
            _receiveError = (short)error;
        OnEnding();
    }

    private void Report()
    {
        if (Interlocked.Exchange(ref _state, Reported) == Reported)
            return;

        var endedInfo = EndedInfo;
        var cause = LostConnectionClassifier.Classify(endedInfo, ReceiveError, Policy.Options);
        if (cause == LostConnectionCause.None)
            return;

        // From the peer's last sign of life (acknowledgements of probes included) to the verdict: what it cost.
        TimeSpan? silence = endedInfo is { } info ? TimeSpan.FromMilliseconds(info.LastAckReceivedMilliseconds) : null;
        Policy.ReportLost(this, _endpoint, cause, silence);

        if (Features.Get<IConnectionMetricsTagsFeature>()?.Tags is { } tags && !tags.Any(t => t.Key == "error.type"))
            tags.Add(new("error.type", cause.ToErrorType()));
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

    /// <summary>
    /// The transport as the layers above see it: its output as is, its input decorated, the one place the
    /// receive error surfaces. The kernel's verdict on a silent peer (a raw <see cref="SocketException"/>,
    /// which Kestrel logs as a Warning with a stack trace for every connection of an outage) is wrapped in an
    /// <see cref="IOException"/>, which Kestrel logs at Debug and apps already expect from a failed read
    /// (a WebSocket still fails with a WebSocketException). Everything else is forwarded untouched.
    /// </summary>
    /// <remarks>
    /// An idle connection always has a read pending, so what a pending read holds is held by every idle
    /// connection: this reader is its own <see cref="IValueTaskSource{TResult}"/> (it keeps the transport's
    /// read) instead of an async method, whose state machine box would hold some 250 bytes more, and passes the
    /// caller's continuation straight to the transport's pipe.
    /// </remarks>
    private sealed class Input(KeepAliveConnection connection) : PipeReader, IDuplexPipe, IValueTaskSource<ReadResult>
    {
        private ValueTask<ReadResult> _read;
        private PipeWriter? _output;
        private Action? _onReadCompleted;
        private Action<object?>? _continuation;
        private object? _continuationState;

        PipeReader IDuplexPipe.Input => this;

        PipeWriter IDuplexPipe.Output => _output ??= new KeepAliveConnectionOutput(connection);

        private PipeReader Inner => connection._inner.Transport.Input;

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            ValueTask<ReadResult> read;
            try
            {
                // A pipe the transport completed with an error throws it synchronously (HTTP/1.1 between requests).
                read = Inner.ReadAsync(cancellationToken);
            }
            catch (Exception ex) when (Seen(ex))
            {
                throw Translate(ex);
            }
            if (read.IsCompletedSuccessfully)
                return read;

            // Pending, or failed: its result goes through GetResult below.
            _read = read;
            return new ValueTask<ReadResult>(this, 0);
        }

        ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) =>
            !_read.IsCompleted ? ValueTaskSourceStatus.Pending :
            _read.IsCompletedSuccessfully ? ValueTaskSourceStatus.Succeeded :
            _read.IsCanceled ? ValueTaskSourceStatus.Canceled :
            ValueTaskSourceStatus.Faulted;

        void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        {
            // The transport's pipe is its reads' own source (token 0): hand it the caller's continuation as is, so
            // a waiting read costs what it costs without the decorator. ValueTask equality is source and token.
            if (Inner is IValueTaskSource<ReadResult> source && _read == new ValueTask<ReadResult>(source, 0))
            {
                source.OnCompleted(continuation, state, 0, flags);
                return;
            }

            // Any other reader: wait for its read through one callback, made on the first read that waits.
            _continuation = continuation;
            _continuationState = state;
            var awaiter = _read.ConfigureAwait((flags & ValueTaskSourceOnCompletedFlags.UseSchedulingContext) != 0).GetAwaiter();
            var onReadCompleted = _onReadCompleted ??= OnReadCompleted;
            if ((flags & ValueTaskSourceOnCompletedFlags.FlowExecutionContext) != 0)
                awaiter.OnCompleted(onReadCompleted);
            else
                awaiter.UnsafeOnCompleted(onReadCompleted);
        }

        private void OnReadCompleted()
        {
            var continuation = _continuation!;
            var state = _continuationState;
            _continuation = null;
            _continuationState = null;
            continuation(state);
        }

        // A read pending when the kernel ends the connection (HTTP/2, WebSockets, TLS) fails here.
        ReadResult IValueTaskSource<ReadResult>.GetResult(short token)
        {
            var read = _read;
            _read = default;
            try
            {
                return read.GetAwaiter().GetResult();
            }
            catch (Exception ex) when (Seen(ex))
            {
                throw Translate(ex);
            }
        }

        public override bool TryRead(out ReadResult result)
        {
            try
            {
                return Inner.TryRead(out result);
            }
            catch (Exception ex) when (Seen(ex))
            {
                throw Translate(ex);
            }
        }

        // Records the error; true when it is the kernel giving up on the peer, to be wrapped.
        private bool Seen(Exception exception)
        {
            // A read its caller canceled (its token) says nothing about the connection, which goes on.
            if (exception is OperationCanceledException and not ConnectionAbortedException)
                return false;
            connection.OnReceiveFailed(exception);
            return exception is SocketException socketException && LostConnectionClassifier.IsKernelVerdict(socketException.SocketErrorCode);
        }

        private static IOException Translate(Exception exception) =>
            new("The peer stopped answering: " + exception.Message, exception);

        public override void AdvanceTo(SequencePosition consumed) => Inner.AdvanceTo(consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => Inner.AdvanceTo(consumed, examined);

        public override void CancelPendingRead() => Inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => Inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => Inner.CompleteAsync(exception);
    }
}
