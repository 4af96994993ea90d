using System.Net;
using System.Net.Sockets;
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
/// On Linux a TCP socket accepted by a listening socket starts with the listening socket's keepalive and
/// user-timeout options. Kestrel's socket transport lets us set the default policy on its listening
/// sockets before they listen (<see cref="KeepAliveListenSocketSetup"/>); their connections then need no
/// setsockopt of their own, which is most of what the policy costs a short-lived connection.
/// </para>
/// </remarks>
/// <param name="inner">The transport.</param>
/// <param name="policies">
/// The policies, resolved when Kestrel binds rather than when the server is constructed (which happens in
/// <c>Build()</c>), so invalid options fail in <c>StartAsync</c> through <c>ValidateOnStart</c>.
/// </param>
internal sealed class KeepAliveListenerFactory(IConnectionListenerFactory inner, Func<KeepAlivePolicies> policies)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    // The bind in progress on this thread. The socket transport creates its listening socket synchronously
    // inside BindAsync; a transport that does not leaves it unset, and its connections get the options one by one.
    [ThreadStatic]
    private static ListenSocket? t_binding;

    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var resolved = policies();
        var binding = t_binding = new ListenSocket(resolved.Default);
        ValueTask<IConnectionListener> bind;
        try
        {
            bind = inner.BindAsync(endpoint, cancellationToken);
        }
        finally
        {
            t_binding = null;
        }
        return new Listener(await bind.ConfigureAwait(false), resolved, binding.Socket is null ? null : binding);
    }

    // Kestrel picks, per endpoint, the first transport that can bind it; keep the inner transport's answer.
    public bool CanBind(EndPoint endpoint) => inner is not IConnectionListenerFactorySelector selector || selector.CanBind(endpoint);

    /// <summary>
    /// The socket transport created a listening socket for an IP endpoint and has not made it listen yet: on
    /// Linux, set the default policy on it, so that every connection it accepts starts with it.
    /// </summary>
    /// <param name="socket">The bound socket.</param>
    /// <param name="backlog">The length of its queue of connections waiting to be accepted.</param>
    internal static void OnListenSocketBound(Socket socket, int backlog)
    {
        if (t_binding is { } binding && OperatingSystem.IsLinux() &&
            socket is { ProtocolType: ProtocolType.Tcp, AddressFamily: AddressFamily.InterNetwork or AddressFamily.InterNetworkV6 } &&
            binding.Policy?.TrySetOn(socket) == true)
        {
            binding.Socket = socket;
            binding.Queue = backlog + 1; // Linux queues one connection more than the backlog
        }
    }

    /// <summary>A listening socket and the policy its accepted connections start with.</summary>
    private sealed class ListenSocket(KeepAlivePolicy policy)
    {
        public KeepAlivePolicy? Policy { get; set; } = policy;

        public Socket? Socket { get; set; }

        public int Queue { get; set; }

        // Accepts still to come that may have been queued before the listening socket took the current policy.
        public int Uncertain { get; set; }

        /// <summary>Whether a connection just accepted started with <paramref name="current"/> (the default now).</summary>
        public bool Carries(KeepAlivePolicy current)
        {
            if (current != Policy)
            {
                // A reload changed the default: set it on the listening socket for the connections to come. Those
                // already queued started with the old one; there are at most Queue of them, this one included.
                Policy = current.TrySetOn(Socket!) ? current : null;
                Uncertain = Queue;
            }
            if (Uncertain == 0)
                return Policy is not null;
            Uncertain--;
            return false;
        }
    }

    private sealed class Listener(IConnectionListener inner, KeepAlivePolicies policies, ListenSocket? listenSocket) : IConnectionListener
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
            return policy.Apply(connection, _endpoint, _default, inherited: listenSocket?.Carries(policy) == true);
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default) => inner.UnbindAsync(cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
