using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Options;

namespace KeepAlive.AspNetCore;

/// <summary>
/// Lets the policy see each listening socket Kestrel's socket transport creates for an IP endpoint, between bind and
/// listen (<see cref="ListeningSockets.OnBound"/>). The app's own <see cref="SocketTransportOptions.CreateBoundListenSocket"/>
/// still creates it.
/// </summary>
internal sealed class KeepAliveListenSocketSetup(ListeningSockets listeningSockets) : IPostConfigureOptions<SocketTransportOptions>
{
    public void PostConfigure(string? name, SocketTransportOptions options)
    {
        var create = options.CreateBoundListenSocket;
        options.CreateBoundListenSocket = endpoint =>
        {
            var socket = create(endpoint);
            // A socket handed over by the system (FileHandleEndPoint) may be listening already, with connections queued.
            if (endpoint is IPEndPoint)
                listeningSockets.OnBound(socket, options.Backlog);
            return socket;
        };
    }
}
