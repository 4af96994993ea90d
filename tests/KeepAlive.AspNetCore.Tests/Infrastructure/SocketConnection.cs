using System.IO.Pipelines;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace KeepAlive.AspNetCore.Tests.Infrastructure;

/// <summary>
/// A connection over a real socket, as Kestrel's socket transport hands it to the policy: the socket behind
/// its <see cref="IConnectionSocketFeature"/>, and the transport's pipes when given.
/// </summary>
internal static class SocketConnection
{
    public static DefaultConnectionContext Create(Socket socket, string id = "conn-1", IDuplexPipe? transport = null, IDuplexPipe? application = null)
    {
        var connection = transport is null ? new DefaultConnectionContext(id) : new DefaultConnectionContext(id, transport, application!);
        connection.Features.Set<IConnectionSocketFeature>(new SocketFeature(socket));
        return connection;
    }

    private sealed class SocketFeature(Socket socket) : IConnectionSocketFeature
    {
        public Socket Socket => socket;
    }
}
