using System.Net;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Connections;

namespace KeepAlive.AspNetCore;

/// <summary>
/// Wraps a Kestrel transport so the policy is set on every connection it accepts, on every endpoint,
/// however the endpoint was configured (code, <c>Kestrel:Endpoints</c>, URLs, HTTPS).
/// </summary>
/// <remarks>
/// <para>
/// Kestrel's <c>ConfigureEndpointDefaults</c> would be the obvious hook, but each call replaces the
/// previous action, so an app or library that calls it after us would silently drop the policy, and
/// endpoints added before our call would never get it. The transport sees every connection first.
/// </para>
/// <para>
/// Where Kestrel's socket transport let the default policy be set on the listening socket (<see cref="ListeningSockets"/>),
/// its connections start with it and need no setsockopt of their own, which is most of what the policy costs a
/// short-lived connection.
/// </para>
/// </remarks>
/// <param name="inner">The transport.</param>
/// <param name="policies">
/// The policies, resolved when Kestrel binds rather than when the server is constructed (which happens in
/// <c>Build()</c>), so invalid options fail in <c>StartAsync</c> through <c>ValidateOnStart</c>.
/// </param>
/// <param name="listeningSockets">The listening sockets the socket transport created, with the default policy set on them.</param>
internal sealed class KeepAliveListenerFactory(IConnectionListenerFactory inner, Func<KeepAlivePolicies> policies, ListeningSockets listeningSockets)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var resolved = policies();
        var listener = await inner.BindAsync(endpoint, cancellationToken).ConfigureAwait(false);
        return new Listener(listener, resolved, listeningSockets.Take(listener.EndPoint));
    }

    // Kestrel picks, per endpoint, the first transport that can bind it; keep the inner transport's answer.
    public bool CanBind(EndPoint endpoint) => inner is not IConnectionListenerFactorySelector selector || selector.CanBind(endpoint);

    private sealed class Listener(IConnectionListener inner, KeepAlivePolicies policies, ListeningSocket? listeningSocket) : IConnectionListener
    {
        private readonly KeepAliveEndpoint _endpoint = KeepAliveEndpoint.From(inner.EndPoint);
        private readonly Func<KeepAlivePolicy?> _default = () => policies.Default;

        public EndPoint EndPoint => inner.EndPoint;

        // Pooled: an accept usually completes asynchronously, and a plain async ValueTask would then
        // allocate a state machine box per accepted connection.
        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            var connection = await inner.AcceptAsync(cancellationToken).ConfigureAwait(false);
            if (connection is null)
                return null;
            // The default policy now: a reload reaches the next connection. Kestrel accepts one at a time per listener.
            var policy = policies.Default;
            return policy.Accept(connection, _endpoint, _default, listeningSocket?.Inherited(policy, connection) ?? InheritedPolicy.KernelDefaults);
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default) => inner.UnbindAsync(cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
