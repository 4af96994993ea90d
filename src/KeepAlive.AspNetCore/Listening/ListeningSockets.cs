using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The listening sockets Kestrel's socket transport creates for IP endpoints, from the moment each is bound (and not
/// yet listening) until the transport's listener that owns it is wrapped: on Linux the default policy is set on each,
/// so that every connection it accepts starts with it and needs no setsockopt of its own. Keyed by the address the
/// socket is bound to, which is the listener's <see cref="Microsoft.AspNetCore.Connections.IConnectionListener.EndPoint"/>.
/// </summary>
/// <param name="defaultPolicy">The default policy now, resolved when the first socket is bound (invalid options fail in <c>StartAsync</c>).</param>
internal sealed class ListeningSockets(Func<KeepAlivePolicy> defaultPolicy)
{
    private readonly ConcurrentDictionary<EndPoint, ListeningSocket> _bound = new();

    /// <summary>
    /// The socket transport created <paramref name="socket"/> and has not made it listen: set the default policy on it.
    /// </summary>
    public void OnBound(Socket socket, int backlog)
    {
        if (OperatingSystem.IsLinux() &&
            socket is { ProtocolType: ProtocolType.Tcp, AddressFamily: AddressFamily.InterNetwork or AddressFamily.InterNetworkV6, LocalEndPoint: { } bound } &&
            ListeningSocket.TryCreate(socket, defaultPolicy(), backlog) is { } listening)
        {
            _bound[bound] = listening;
        }
    }

    /// <summary>The listening socket bound to <paramref name="endPoint"/>, handed over once; <see langword="null"/> when there is none (another transport).</summary>
    public ListeningSocket? Take(EndPoint endPoint) => _bound.TryRemove(endPoint, out var socket) ? socket : null;
}
