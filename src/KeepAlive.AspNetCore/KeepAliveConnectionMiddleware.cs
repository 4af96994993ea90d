using Microsoft.AspNetCore.Connections;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The connection middleware <c>listenOptions.UseKeepAlivePolicy()</c> adds: sets the endpoint's
/// policy on each accepted connection's socket, then hands the connection on.
/// </summary>
internal sealed class KeepAliveConnectionMiddleware(ConnectionDelegate next, KeepAlivePolicy policy)
{
    public Task OnConnectionAsync(ConnectionContext connection)
    {
        policy.Apply(connection);
        return next(connection);
    }
}
