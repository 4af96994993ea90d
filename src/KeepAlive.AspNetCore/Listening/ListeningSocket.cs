using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace KeepAlive.AspNetCore;

/// <summary>
/// A listening socket the default policy is set on, so that the sockets it accepts start with it, and what each accepted
/// socket can be taken to have: the default in force since the listening socket last got it, once the kernel is seen
/// copying it, past the connections that may have been queued before.
/// </summary>
/// <param name="socket">The listening socket.</param>
/// <param name="policy">The default policy set on it.</param>
/// <param name="queued">How many connections may sit in its queue at once (Linux: backlog + 1).</param>
internal sealed class ListeningSocket(Socket socket, KeepAlivePolicy policy, int queued)
{
    // Linux's check for a full queue is not atomic with queueing: twice that, since a reload is rare.
    private readonly int _mayBeQueued = 2 * queued;
    private KeepAlivePolicy? _policy = policy;
    private int _uncertain; // accepts still to come that may have been queued before the last change
    private bool _verified;

    /// <summary>Sets <paramref name="policy"/> on <paramref name="socket"/>; <see langword="null"/> when the socket refused an option.</summary>
    public static ListeningSocket? TryCreate(Socket socket, KeepAlivePolicy policy, int backlog) =>
        policy.TryApplyTo(socket) ? new ListeningSocket(socket, policy, backlog + 1) : null;

    /// <summary>What a connection just accepted from it has, <paramref name="current"/> being the default now.</summary>
    public InheritedPolicy Inherited(KeepAlivePolicy current, ConnectionContext accepted)
    {
        if (_policy is null)
            return InheritedPolicy.Unknown; // the listening socket refused an option, or its connections do not inherit

        if (current != _policy)
        {
            if (current.SetsSameOptionsAs(_policy))
            {
                _policy = current; // a reload that left the default as it was
            }
            else
            {
                // A reload changed the default: set it on the listening socket for the connections to come; those
                // already queued have the old one.
                _policy = current.TryApplyTo(socket) ? current : null;
                _uncertain = _mayBeQueued;
                return InheritedPolicy.Unknown;
            }
        }
        if (_uncertain > 0)
        {
            _uncertain--;
            return InheritedPolicy.Unknown;
        }
        if (!_verified)
        {
            // Once, read back that the kernel copied the options (a Linux emulation may not).
            switch (accepted.Features.Get<IConnectionSocketFeature>()?.Socket is { } acceptedSocket ? current.IsAppliedTo(acceptedSocket) : null)
            {
                case true:
                    _verified = true;
                    break;
                case false:
                    _policy = null;
                    return InheritedPolicy.Unknown;
                case null:
                    return InheritedPolicy.Unknown; // closed already: the next connection tells
            }
        }
        return InheritedPolicy.ThisPolicy;
    }
}
