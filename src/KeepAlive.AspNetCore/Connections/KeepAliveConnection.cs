using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace KeepAlive.AspNetCore;

/// <summary>
/// A TCP connection under a keepalive policy, as Kestrel's HTTP layer sees it: everything is the transport's own
/// connection, but its policy (the one in force, and where it comes from), its place in the list of open connections, and
/// the watch on its end (<see cref="LostConnectionTracker"/>), which every way it can end passes through here.
/// </summary>
internal sealed class KeepAliveConnection : ConnectionContext, IConnectionTransportFeature
{
    private readonly ConnectionContext _inner;
    private readonly KeepAliveEndpoint _endpoint;
    private readonly OpenConnections? _openConnections;
    // Null until Kestrel first reads it; then the input decorator over the transport, or what TLS put over it.
    private IDuplexPipe? _transport;
    private LostConnectionTracker _lost;

    /// <param name="inner">The transport's connection.</param>
    /// <param name="socket">Its socket.</param>
    /// <param name="policy">The policy its socket has now.</param>
    /// <param name="endpoint">Where it was accepted.</param>
    /// <param name="openConnections">Tracks it for reloads (and gives it the policy in force once it is tracked); none for a policy set in code.</param>
    /// <param name="source">Where its policy comes from (see <see cref="PolicySource"/>).</param>
    public KeepAliveConnection(ConnectionContext inner, Socket socket, KeepAlivePolicy policy, KeepAliveEndpoint endpoint, OpenConnections? openConnections, Func<KeepAlivePolicy?>? source)
    {
        _inner = inner;
        _lost.Start();
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
        // HttpContext.Features (which falls back to the connection's). A route's policy finds the connection there too,
        // at no cost per connection.
        inner.Features.Set<IConnectionTransportFeature>(this);
        _openConnections = openConnections;
        openConnections?.Add(this);
    }

    /// <summary>The transport's own input (what <see cref="KeepAliveConnectionInput"/> decorates).</summary>
    internal PipeReader TransportInput => _inner.Transport.Input;

    /// <summary>The transport's own output (what <see cref="KeepAliveConnectionOutput"/> forwards to).</summary>
    internal PipeWriter TransportOutput => _inner.Transport.Output;

    /// <summary>Links of the list of open connections (<see cref="OpenConnections"/>).</summary>
    internal KeepAliveConnection? Previous { get; set; }

    internal KeepAliveConnection? Next { get; set; }

    /// <summary>Where the connection was accepted, as metrics name it.</summary>
    public KeepAliveEndpoint Endpoint => _endpoint;

    /// <summary>The connection's TCP socket (the transport's own socket feature).</summary>
    public Socket Socket => Features.Get<IConnectionSocketFeature>()!.Socket;

    /// <summary>The policy in force: an endpoint's own policy replaces the app-wide one.</summary>
    public KeepAlivePolicy Policy { get; private set; }

    /// <summary>
    /// Where <see cref="Policy"/> came from: the default policy, the policy an endpoint or route names, or one fixed in
    /// code. A reload asks it again, so an open connection follows what a new one would get there.
    /// <see langword="null"/>: left as it is.
    /// </summary>
    public Func<KeepAlivePolicy?>? PolicySource { get; private set; }

    /// <summary>
    /// From now on the connection's policy comes from <paramref name="source"/> (an endpoint's mapping, a route's
    /// policy): applies the policy it gives now, all of its options, unless the socket has it already.
    /// </summary>
    public void FollowPolicy(Func<KeepAlivePolicy?>? source)
    {
        // The connection is the lock (no field, no allocation): a reload, a route and the endpoint's middleware may
        // change one connection's policy at once, and each must apply one policy's options whole, and the last one.
        lock (this)
        {
            PolicySource = source;
            ApplyPolicyFromSource();
        }
    }

    /// <summary>Applies the policy its source gives now (after a reload), unless the socket has it already.</summary>
    public void ReapplyPolicy()
    {
        lock (this)
            ApplyPolicyFromSource();
    }

    private void ApplyPolicyFromSource()
    {
        if (PolicySource?.Invoke() is { } policy && policy != Policy)
        {
            Policy = policy;
            policy.ApplyTo(this);
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
        _lost.OnAbort(this, abortReason);
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
        _lost.OnEnd(this);
        _openConnections?.Remove(this);
    }

    /// <inheritdoc cref="LostConnectionTracker.OnWriteWaiting"/>
    internal void OnWriteWaiting() => _lost.OnWriteWaiting(this);

    /// <inheritdoc cref="LostConnectionTracker.OnWriteDone"/>
    internal void OnWriteDone() => _lost.OnWriteDone();

    /// <inheritdoc cref="LostConnectionTracker.OnReceiveFailed"/>
    internal void OnReceiveFailed(Exception exception) => _lost.OnReceiveFailed(this, exception);

    /// <inheritdoc cref="LostConnectionTracker.OnSendFailed"/>
    internal bool OnSendFailed(Exception exception) => _lost.OnSendFailed(this, exception);

    /// <inheritdoc cref="LostConnectionTracker.Report"/>
    internal void ReportLoss(bool transportDone = true) => _lost.Report(this, transportDone);

    // Kestrel first reads the transport once it serves the connection (TLS or HTTP), after the endpoint's connection
    // middleware that comes before TLS: the policy now is the endpoint's.
    private KeepAliveConnectionInput OnServing()
    {
        Policy.CountApplied(_endpoint);
        KestrelConnectionTags.AddPolicy(Features, Policy.Name);
        var input = new KeepAliveConnectionInput(this);
        _transport = input;
        return input;
    }
}
