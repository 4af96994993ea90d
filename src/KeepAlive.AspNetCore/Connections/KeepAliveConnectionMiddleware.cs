using System.Net;
using Microsoft.AspNetCore.Connections;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The connection middleware <c>listenOptions.UseKeepAlivePolicy()</c> adds: sets the endpoint's
/// policy on each accepted connection's socket, then hands the connection on.
/// </summary>
/// <param name="next">The rest of the endpoint's pipeline.</param>
/// <param name="policy">The endpoint's policy now (a named one follows reloads); <see langword="null"/> leaves the connection as it is.</param>
/// <param name="listenEndPoint">The endpoint's bound address; Kestrel sets it (port 0 resolved) after it builds this middleware.</param>
internal sealed class KeepAliveConnectionMiddleware(ConnectionDelegate next, Func<KeepAlivePolicy?> policy, Func<EndPoint?> listenEndPoint)
{
    private KeepAliveEndpoint? _endpoint;

    public Task OnConnectionAsync(ConnectionContext connection)
    {
        if (policy() is not { } current)
            return next(connection);

        var endpoint = _endpoint ??= KeepAliveEndpoint.From(listenEndPoint());
        var handedOn = current.Accept(connection, endpoint, policy);
        // Tracked here (no app-wide policy wrapped it at accept): Kestrel disposes its own connection, not
        // this one, so end it when the endpoint's pipeline is done.
        return handedOn is KeepAliveConnection created && !ReferenceEquals(created, connection)
            ? RunAsync(created)
            : next(handedOn);
    }

    private async Task RunAsync(KeepAliveConnection connection)
    {
        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            connection.End();
        }
    }
}
