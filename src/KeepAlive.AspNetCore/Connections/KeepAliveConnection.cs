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
    // Ended: ending looked normal, but a verdict the output sees later (it can consume the kernel's error before the
    // input reads it) is still reported when the connection is disposed.
    private const byte Open = 0, Ending = 1, Reported = 2, Ended = 3;

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
    // While a write waits for the peer: a descriptor of the socket's own, through which a verdict the output meets first
    // is read (the transport has closed its socket by then).
    private WaitingWriteDescriptor _waitingWrite;

    /// <param name="inner">The transport's connection.</param>
    /// <param name="socket">Its socket.</param>
    /// <param name="policy">The policy its socket has now.</param>
    /// <param name="endpoint">Where it was accepted.</param>
    /// <param name="registry">Tracks it for reloads (and gives it the policy in force once it is tracked); none for a policy set in code.</param>
    /// <param name="source">Where its policy comes from (see <see cref="PolicySource"/>).</param>
    public KeepAliveConnection(ConnectionContext inner, Socket socket, KeepAlivePolicy policy, KeepAliveEndpoint endpoint, KeepAlivePolicies? registry, Func<KeepAlivePolicy?>? source)
    {
        _inner = inner;
        // The base class's own fields, which the overrides below leave unused (see SocketLocalEndPoint).
        try
        {
            base.LocalEndPoint = socket.LocalEndPoint;
            base.RemoteEndPoint = socket.RemoteEndPoint;
        }
        catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
        {
            // Gone already: without end points the gauge reads it with getsockopt, which finds it gone.
        }
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

    /// <summary>The transport's own input (what <see cref="KeepAliveConnectionInput"/> decorates).</summary>
    internal PipeReader TransportInput => _inner.Transport.Input;

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

    /// <summary>
    /// The socket's own end points, as accepted: the addresses and ports the kernel knows the connection by, which
    /// <see cref="RemoteEndPoint"/> stops being once a connection middleware changes it (one for the PROXY protocol,
    /// say). Kept in <see cref="BaseConnectionContext"/>'s fields for the end points, which the overrides below leave
    /// unused, so they cost nothing per connection; <c>keepalive.connections</c> matches the kernel's socket dump by
    /// them without reaching the socket (<see cref="ConnectionStateReader"/>).
    /// </summary>
    internal EndPoint? SocketLocalEndPoint => base.LocalEndPoint;

    /// <inheritdoc cref="SocketLocalEndPoint"/>
    internal EndPoint? SocketRemoteEndPoint => base.RemoteEndPoint;

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
        OnWriteDone();
        _registry?.Remove(this);
    }

    /// <summary>
    /// A write is about to wait for the peer (its window or the send buffer is full): keep a way to TCP_INFO, where the
    /// kernel's verdict can come while it waits (<see cref="KeepAlivePolicy.HoldsDescriptorWhileWriting"/>).
    /// </summary>
    internal void OnWriteWaiting()
    {
        if (Policy.HoldsDescriptorWhileWriting)
            _waitingWrite.Hold(Socket);
    }

    /// <summary>The waiting write is over.</summary>
    internal void OnWriteDone() => _waitingWrite.Release();

    // Kestrel first reads the transport once it serves the connection (TLS or HTTP), after the endpoint's
    // connection middleware that comes before TLS: the policy now is the endpoint's. By then Kestrel has set
    // IConnectionMetricsTagsFeature (present only while kestrel.connection.duration is listened to).
    private KeepAliveConnectionInput OnServing()
    {
        Policy.ReportServed(_endpoint);
        Features.Get<IConnectionMetricsTagsFeature>()?.Tags.Add(new("keepalive.policy", Policy.Name));
        var input = new KeepAliveConnectionInput(this);
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

        ReadVerdict();
        if (EndedInfo is null && !LostConnectionClassifier.IsKernelVerdict(ReceiveError))
        {
            _state = Ended;
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

    // Keeps TCP_INFO if it shows the kernel's verdict on the peer. The kernel wakes the receive with its verdict just
    // before it marks the socket closed (tcp_write_err, then tcp_done): with the verdict in hand, TCP_INFO is the
    // verdict's even if the state has not caught up yet.
    private void ReadVerdict()
    {
        if ((TcpConnectionInfo.TryRead(Socket, out var info) || _waitingWrite.TryReadTcpInfo(out info)) &&
            (info.State == TcpConnectionInfo.Closed || LostConnectionClassifier.IsKernelVerdict(ReceiveError)) &&
            (info.Probes > 0 || info.Retransmits > 0 || info.WindowClosedWithDataWaiting))
        {
            _endedLastAckMilliseconds = info.LastAckReceivedMilliseconds;
            _endedRetransmits = info.Retransmits;
            _endedProbes = info.Probes;
            _endedWindowClosed = info.WindowClosedWithDataWaiting;
            _endedState = info.State;
        }
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
        // The output took the error first: the transport has closed its socket, so TCP_INFO is read through the
        // descriptor the waiting write kept, now, before that write lets it go. If the input had already seen a normal
        // ending (Ended), the connection reports when it is disposed.
        if (EndedInfo is null)
            ReadVerdict();
        return true;
    }

    /// <summary>A read of the transport failed with <paramref name="exception"/>: the connection is ending.</summary>
    internal void OnReceiveFailed(Exception exception)
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
}
