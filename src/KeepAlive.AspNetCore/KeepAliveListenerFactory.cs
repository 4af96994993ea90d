using System.Net;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Connections;

namespace KeepAlive.AspNetCore;

/// <summary>
/// Wraps a Kestrel transport so the policy is set on every connection it accepts, on every endpoint,
/// however the endpoint was configured (code, <c>Kestrel:Endpoints</c>, URLs, HTTPS).
/// </summary>
/// <remarks>
/// Kestrel's <c>ConfigureEndpointDefaults</c> would be the obvious hook, but each call replaces the
/// previous action, so an app or library that calls it after us would silently drop the policy, and
/// endpoints added before our call would never get it. The transport sees every connection first.
/// </remarks>
/// <param name="inner">The transport.</param>
/// <param name="policies">
/// The policies, resolved when Kestrel binds rather than when the server is constructed (which happens in
/// <c>Build()</c>), so invalid options fail in <c>StartAsync</c> through <c>ValidateOnStart</c>.
/// </param>
internal sealed class KeepAliveListenerFactory(IConnectionListenerFactory inner, Func<KeepAlivePolicies> policies)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var resolved = policies();
        return new Listener(await inner.BindAsync(endpoint, cancellationToken).ConfigureAwait(false), resolved);
    }

    // Kestrel picks, per endpoint, the first transport that can bind it; keep the inner transport's answer.
    public bool CanBind(EndPoint endpoint) => inner is not IConnectionListenerFactorySelector selector || selector.CanBind(endpoint);

    private sealed class Listener(IConnectionListener inner, KeepAlivePolicies policies) : IConnectionListener
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
            // The default policy now: a reload reaches the next connection.
            return connection is null ? null : policies.Default.Apply(connection, _endpoint, _default);
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default) => inner.UnbindAsync(cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
