using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

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
    /// <param name="backlog">The backlog it will listen with.</param>
    internal static void OnListenSocketBound(Socket socket, int backlog)
    {
        if (t_binding is { } binding && OperatingSystem.IsLinux() &&
            socket is { ProtocolType: ProtocolType.Tcp, AddressFamily: AddressFamily.InterNetwork or AddressFamily.InterNetworkV6 } &&
            binding.Policy?.TrySetOn(socket) == true)
        {
            binding.Socket = socket;
            // Linux queues up to backlog + 1 connections; the queue can fill again while the options change, and
            // its check for a full queue is not atomic with queueing: twice that, since a reload is rare.
            binding.Uncertainty = 2 * (backlog + 1);
        }
    }

    /// <summary>A listening socket and the policy the connections it accepts start with.</summary>
    private sealed class ListenSocket(KeepAlivePolicy policy)
    {
        private int _uncertain; // accepts still to come that may have been queued before the last change
        private bool _verified;

        public KeepAlivePolicy? Policy { get; private set; } = policy;

        public Socket? Socket { get; set; }

        public int Uncertainty { get; set; }

        /// <summary>What a connection just accepted has from the listening socket, <paramref name="current"/> being the default now.</summary>
        public InheritedOptions Inherited(KeepAlivePolicy current, ConnectionContext connection)
        {
            if (Policy is null)
                return InheritedOptions.Other; // the listening socket refused an option, or its connections do not inherit

            if (current != Policy)
            {
                if (current.SetsSameOptionsAs(Policy))
                {
                    Policy = current; // a reload that left the default as it was
                }
                else
                {
                    // A reload changed the default: set it on the listening socket for the connections to come;
                    // those already queued have the old one.
                    Policy = current.TrySetOn(Socket!) ? current : null;
                    _uncertain = Uncertainty;
                    return InheritedOptions.Other;
                }
            }
            if (_uncertain > 0)
            {
                _uncertain--;
                return InheritedOptions.Other;
            }
            if (!_verified)
            {
                // Once per listening socket, read back that the kernel copied the options (a Linux emulation may not).
                switch (connection.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket ? current.IsSetOn(socket) : null)
                {
                    case true:
                        _verified = true;
                        break;
                    case false:
                        Policy = null;
                        return InheritedOptions.Other;
                    case null:
                        return InheritedOptions.Other; // closed already: the next connection tells
                }
            }
            return InheritedOptions.This;
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
            return policy.Apply(connection, _endpoint, _default, listenSocket?.Inherited(policy, connection) ?? InheritedOptions.None);
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default) => inner.UnbindAsync(cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
