using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The connection middleware <c>listenOptions.UseKeepAlivePolicy()</c> adds: sets the endpoint's
/// policy on each accepted connection's socket, then hands the connection on.
/// </summary>
internal sealed class KeepAliveConnectionMiddleware(ConnectionDelegate next, KeepAlivePolicy policy, ListenOptions listenOptions)
{
    // Kestrel sets the endpoint's bound address (port 0 resolved) after it builds this middleware.
    private KeepAliveEndpoint? _endpoint;

    public Task OnConnectionAsync(ConnectionContext connection)
    {
        var endpoint = _endpoint ??= KeepAliveEndpoint.From(listenOptions.EndPoint);
        return next(policy.Apply(connection, endpoint));
    }
}
