using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
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
internal sealed class KeepAliveConnection : ConnectionContext, IDuplexPipe, IConnectionSocketFeature
{
    private const int Open = 0, Ending = 1, Reported = 2;

    private readonly ConnectionContext _inner;
    private readonly Socket _socket;
    private readonly KeepAliveEndpoint _endpoint;
    private readonly KeepAlivePolicies? _registry;
    private Input? _input;
    private IDuplexPipe _transport;
    private bool _serving;
    private int _state;
    private TcpConnectionInfo? _closedInfo;
    private SocketError? _receiveError;

    public KeepAliveConnection(ConnectionContext inner, Socket socket, KeepAlivePolicy policy, KeepAliveEndpoint endpoint, KeepAlivePolicies? registry)
    {
        _inner = inner;
        _socket = socket;
        Policy = policy;
        _endpoint = endpoint;
        _transport = this;
        // The same socket, seen through this connection: a route's policy finds the connection through
        // HttpContext.Features (which falls back to the connection's), at no cost per connection.
        inner.Features.Set<IConnectionSocketFeature>(this);
        _registry = registry;
        registry?.Add(this);
    }

    /// <summary>Links of the registry's list of open connections (<see cref="KeepAlivePolicies"/>).</summary>
    internal KeepAliveConnection? Previous { get; set; }

    internal KeepAliveConnection? Next { get; set; }

    /// <summary>Where the connection was accepted, as metrics name it.</summary>
    public KeepAliveEndpoint Endpoint => _endpoint;

    /// <summary>The connection's TCP socket.</summary>
    public Socket Socket => _socket;

    /// <summary>The policy in force: an endpoint's own policy replaces the app-wide one.</summary>
    public KeepAlivePolicy Policy { get; set; }

    /// <summary>
    /// Where <see cref="Policy"/> came from: the default policy, the policy an endpoint or route names, or one
    /// fixed in code. A reload asks it again, so an open connection follows what a new one would get there.
    /// <see langword="null"/>: left as it is.
    /// </summary>
    public Func<KeepAlivePolicy?>? PolicySource { get; set; }

    public override IDuplexPipe Transport
    {
        get
        {
            if (!_serving)
                OnServing();
            return _transport;
        }
        // TLS and other layers replace the transport for the layers above; the raw one stays ours.
        set => _transport = value;
    }

    PipeReader IDuplexPipe.Input => _input ??= new Input(this, _inner.Transport.Input);

    PipeWriter IDuplexPipe.Output => _inner.Transport.Output;

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

    // Kestrel first reads the transport once it serves the connection: by then it has set
    // IConnectionMetricsTagsFeature (present only while kestrel.connection.duration is listened to).
    private void OnServing()
    {
        _serving = true;
        Features.Get<IConnectionMetricsTagsFeature>()?.Tags.Add(new("keepalive.policy", Policy.Name));
    }

    // The connection is ending: Kestrel aborts it, or its receive failed. Read TCP_INFO now, while the
    // socket is open. Only a connection the kernel closed with probes or retransmissions outstanding (or
    // whose receive said so) is followed further; a normal close costs this one getsockopt.
    private void OnEnding()
    {
        if (Interlocked.CompareExchange(ref _state, Ending, Open) != Open)
            return;

        if (TcpConnectionInfo.TryRead(_socket, out var info))
        {
            if (info.State == TcpConnectionInfo.Closed && (info.Probes > 0 || info.Retransmits > 0))
                _closedInfo = info;
        }
        if (_closedInfo is null && !IsKernelVerdict(_receiveError))
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

    private static bool IsKernelVerdict(SocketError? error) =>
        error is SocketError.TimedOut or SocketError.NetworkReset or SocketError.HostUnreachable or SocketError.NetworkUnreachable;

    private void OnReceiveFailed(Exception exception)
    {
        _receiveError = FindSocketError(exception);
        OnEnding();
    }

    private void Report()
    {
        if (Interlocked.Exchange(ref _state, Reported) == Reported)
            return;

        var cause = LostConnectionClassifier.Classify(_closedInfo, _receiveError, Policy.Options);
        if (cause == LostConnectionCause.None)
            return;

        TimeSpan? silence = _closedInfo is { } info ? TimeSpan.FromMilliseconds(info.LastDataReceivedMilliseconds) : null;
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
    /// The transport's input as the layers above read it: the one place the receive error surfaces.
    /// The kernel's verdict on a silent peer (a raw <see cref="SocketException"/>, which Kestrel logs as a
    /// Warning with a stack trace for every connection of an outage) is wrapped in an
    /// <see cref="IOException"/>, which Kestrel logs at Debug and apps already expect from a failed read
    /// (a WebSocket still fails with a WebSocketException). Everything else is forwarded untouched.
    /// </summary>
    private sealed class Input(KeepAliveConnection connection, PipeReader inner) : PipeReader
    {
        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            ValueTask<ReadResult> read;
            try
            {
                // A pipe the transport completed with an error throws it synchronously (HTTP/1.1 between requests).
                read = inner.ReadAsync(cancellationToken);
            }
            catch (Exception ex) when (Seen(ex))
            {
                throw Translate(ex);
            }
            return read.IsCompletedSuccessfully ? read : Awaited(read);
        }

        // A read pending when the kernel ends the connection (HTTP/2, WebSockets, TLS) fails here. Pooled,
        // so a pending read allocates nothing.
        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        private async ValueTask<ReadResult> Awaited(ValueTask<ReadResult> read)
        {
            try
            {
                return await read.ConfigureAwait(false);
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
                return inner.TryRead(out result);
            }
            catch (Exception ex) when (Seen(ex))
            {
                throw Translate(ex);
            }
        }

        // Records the error; true when it is the kernel giving up on the peer, to be wrapped.
        private bool Seen(Exception exception)
        {
            connection.OnReceiveFailed(exception);
            return exception is SocketException socketException && IsKernelVerdict(socketException.SocketErrorCode);
        }

        private static IOException Translate(Exception exception) =>
            new("The peer stopped answering: " + exception.Message, exception);

        public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
    }
}
