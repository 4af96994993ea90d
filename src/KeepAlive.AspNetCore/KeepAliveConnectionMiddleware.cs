using System.Net;
using Microsoft.AspNetCore.Connections;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The connection middleware <c>listenOptions.UseKeepAlivePolicy()</c> adds: sets the endpoint's
/// policy on each accepted connection's socket, then hands the connection on.
/// </summary>
/// <param name="next">The rest of the endpoint's pipeline.</param>
/// <param name="policy">The endpoint's policy.</param>
/// <param name="listenEndPoint">The endpoint's bound address; Kestrel sets it (port 0 resolved) after it builds this middleware.</param>
internal sealed class KeepAliveConnectionMiddleware(ConnectionDelegate next, KeepAlivePolicy policy, Func<EndPoint?> listenEndPoint)
{
    private KeepAliveEndpoint? _endpoint;

    public Task OnConnectionAsync(ConnectionContext connection)
    {
        var endpoint = _endpoint ??= KeepAliveEndpoint.From(listenEndPoint());
        return next(policy.Apply(connection, endpoint));
    }
}
