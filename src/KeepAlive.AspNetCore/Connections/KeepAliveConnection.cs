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
    private readonly ConnectionContext _inner;
    private readonly KeepAliveEndpoint _endpoint;
    private readonly KeepAlivePolicies? _registry;
    // When it was accepted (Environment.TickCount, ms): a connection that ends gracefully is read at its end only once it
    // is old enough for a timer to have found its peer silent.
    private readonly int _acceptedAt = Environment.TickCount;
    // Null until Kestrel first reads it; then the input decorator over the transport, or what TLS put over it.
    private IDuplexPipe? _transport;
    // What is known of how the connection is ending: TCP_INFO as read then, the socket error seen, what ended it.
    private EndingEvidence _ending;
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
        // Kestrel passes no reason (null, against the annotation) when the transport completed: the peer closed, or the
        // kernel ended it. Any other abort is the decision of the application, its framework or Kestrel.
        OnEnding(aboveTcp: abortReason is not null, AbortOrigin.IsApplicationAbort(abortReason));
        _inner.Abort(abortReason!);
    }

    public override ValueTask DisposeAsync()
    {
        End();
        return _inner.DisposeAsync();
    }

    /// <summary>The connection is over: report it if it was lost, and stop tracking it.</summary>
    public void End()
    {
        // Ended with no abort and no failed receive: closed gracefully by Kestrel (a GOAWAY after its HTTP/2 keepalive ping
        // went unanswered, its keep-alive timeout) or by the app. One getsockopt tells whether its peer was silent, spent
        // only where a timer could have found it so (the socket is still open: the transport closes it after this).
        if (_ending.IsOpen && !Policy.IsStopping && Policy.MayHaveFoundSilentPeer(Age) && _ending.TryBegin() && ReadTcpInfo(out var info))
        {
            _ending.Record(info);
            _ending.RecordEnder(ConnectionEnder.Kestrel);
        }
        Report(transportDone: true);
        _waitingWrite.Release();
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

    /// <summary>A read of the transport failed with <paramref name="exception"/>: the connection is ending.</summary>
    internal void OnReceiveFailed(Exception exception)
    {
        if (FindSocketError(exception) is { } error)
            _ending.RecordError(error);
        OnEnding(aboveTcp: false, applicationAbort: false);
    }

    /// <summary>
    /// A flush of the transport failed with <paramref name="exception"/>: keeps its socket error, and tells whether it is
    /// the kernel giving up on the peer, which the output hides from Kestrel (see <see cref="KeepAliveConnectionOutput"/>).
    /// </summary>
    internal bool OnSendFailed(Exception exception)
    {
        var error = FindSocketError(exception);
        if (error is { } socketError)
            _ending.RecordError(socketError);
        if (!LostConnectionClassifier.IsKernelVerdict(error))
            return false;
        // The output took the verdict first: the transport has closed its socket, so TCP_INFO is read through the
        // descriptor the waiting write kept, now, before that write lets it go.
        if (!_ending.KernelClosed && ReadTcpInfo(out var info))
            _ending.Record(info);
        return true;
    }

    // Kestrel first reads the transport once it serves the connection (TLS or HTTP), after the endpoint's
    // connection middleware that comes before TLS: the policy now is the endpoint's. By then Kestrel has set
    // IConnectionMetricsTagsFeature (present only while kestrel.connection.duration is listened to).
    private KeepAliveConnectionInput OnServing()
    {
        Policy.ReportServed(_endpoint);
        Features.Get<IConnectionMetricsTagsFeature>()?.Tags.Add(new(KeepAliveTags.Policy, Policy.Name));
        var input = new KeepAliveConnectionInput(this);
        _transport = input;
        return input;
    }

    private TimeSpan Age => TimeSpan.FromMilliseconds(unchecked((uint)(Environment.TickCount - _acceptedAt)));

    // The first sign of the end: Kestrel aborts it, or its receive failed. TCP_INFO is read now, while the socket is open
    // (a normal close costs this one getsockopt).
    /// <param name="aboveTcp">Whether the application, its framework or Kestrel ended it (an abort with a reason).</param>
    /// <param name="applicationAbort">Whether that abort was <c>HttpContext.Abort()</c>, which a ping timer above TCP may be behind.</param>
    private void OnEnding(bool aboveTcp, bool applicationAbort)
    {
        if (!_ending.TryBegin())
            return;
        if (ReadTcpInfo(out var info))
            _ending.Record(info);

        if (_ending.KernelClosed || LostConnectionClassifier.IsKernelVerdict(_ending.Error))
        {
            // The kernel ended it: reported when Kestrel completes the connection, when its error has usually surfaced.
            ReportWhenCompleted();
            return;
        }
        if (aboveTcp && _ending.HasReading && !_ending.PeerClosed)
        {
            // The kernel holds it still: judged now, while TCP_INFO is as the timer above TCP found it, and reported before
            // Kestrel records the connection's end, so that its tags get the cause.
            _ending.RecordEnder(Policy.IsStopping ? ConnectionEnder.Shutdown : ConnectionEnder.Application);
            if (_ending.Ender == ConnectionEnder.Application && NeedsAbortOrigin(applicationAbort))
                _ending.RecordEnder(AbortOrigin.Find());
            Report(transportDone: false);
        }
        // Otherwise it looked normal; a verdict the output meets later is still reported when the connection ends.
    }

    // Which timer aborted matters for the cause of a connection whose peer answers (a ping through a proxy ends in the
    // application's abort; Kestrel's minimum data rate, for a closed window), and for the log line of a lost one.
    private bool NeedsAbortOrigin(bool applicationAbort) =>
        applicationAbort || _ending.WindowClosed || LostConnectionClassifier.Classify(_ending, Policy.Options) != LostConnectionCause.None;

    private void ReportWhenCompleted()
    {
        try
        {
            if (Features.Get<IConnectionCompleteFeature>() is { } complete)
            {
                complete.OnCompleted(static state => { ((KeepAliveConnection)state).Report(transportDone: true); return Task.CompletedTask; }, this);
                return;
            }
        }
        catch (InvalidOperationException)
        {
            // Kestrel has completed the connection already.
        }
        Report(transportDone: false);
    }

    // TCP_INFO through the socket, or through the descriptor a waiting write kept once the transport closed the socket.
    private bool ReadTcpInfo(out TcpConnectionInfo info) =>
        TcpConnectionInfo.TryRead(Socket, out info) || _waitingWrite.TryReadTcpInfo(out info);

    /// <param name="transportDone">Whether the HTTP layer is done with the transport's pipes, which may then be looked into.</param>
    private void Report(bool transportDone)
    {
        if (!_ending.TryReport())
            return;
        if (transportDone && _ending.KernelClosed && _ending.Error is null)
            FindTransportError();

        var cause = LostConnectionClassifier.Classify(_ending, Policy.Options);
        if (cause == LostConnectionCause.None)
            return;

        // From the peer's last sign of life (acknowledgements of probes included) to the end: what it cost.
        TimeSpan? silence = _ending.HasReading ? _ending.SinceLastAck : null;
        Policy.ReportLost(this, _endpoint, cause, silence, _ending.Ender);

        if (Features.Get<IConnectionMetricsTagsFeature>()?.Tags is { } tags && !tags.Any(t => t.Key == KeepAliveTags.ErrorType))
            tags.Add(new(KeepAliveTags.ErrorType, cause.ToErrorType()));
    }

    // The kernel ended the connection and neither our receive nor our send saw its error: Kestrel's socket transport keeps
    // it as what its pipes complete with (SocketConnection: the input with the receive's error, the output with the
    // send's), where no one looks once the HTTP layer has stopped reading and writing.
    private void FindTransportError()
    {
        try
        {
            if (TransportInput.TryRead(out var result))
                TransportInput.AdvanceTo(result.Buffer.Start);
        }
        catch (Exception ex)
        {
            Keep(ex);
        }
        try
        {
            var flush = TransportOutput.FlushAsync();
            if (flush.IsCompleted)
                flush.GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            Keep(ex);
        }

        // A pipe already completed by its user says nothing; one completed with the transport's error says it.
        void Keep(Exception exception)
        {
            if (FindSocketError(exception) is { } error)
                _ending.RecordError(error);
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
