using Microsoft.AspNetCore.Connections;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The connection middleware of a Kestrel configuration endpoint (<c>Kestrel:Endpoints:&lt;name&gt;</c>):
/// gives its connections the policy <c>KeepAlive:Endpoints</c> maps it to, now or after a reload.
/// </summary>
/// <remarks>
/// Every configuration endpoint has one, mapped or not, so that a reload that maps an endpoint reaches the
/// connections it has open, and one that unmaps it returns them to what they had before: the default policy,
/// or the app's own policy for the endpoint (set in code earlier in the endpoint's pipeline), which an
/// endpoint that is not mapped never overrides.
/// </remarks>
internal sealed class KeepAliveEndpointMappingMiddleware
{
    private readonly ConnectionDelegate _next;
    private readonly Func<KeepAlivePolicy?> _source;
    // Where an unmapped endpoint's connections get their policy. The same for all of them, since they all
    // pass the same middleware before this one: the first connection tells.
    private Func<KeepAlivePolicy?>? _unmapped;

    public KeepAliveEndpointMappingMiddleware(ConnectionDelegate next, KeepAlivePolicies policies, string endpointName)
    {
        _next = next;
        _source = () => policies.ForEndpoint(endpointName) ?? _unmapped?.Invoke();
    }

    public Task OnConnectionAsync(ConnectionContext connection)
    {
        // The app-wide policy tracks every TCP connection from accept; anything else is not ours to change.
        if (connection is KeepAliveConnection tracked)
        {
            _unmapped ??= tracked.PolicySource;
            // Unmapped, this only makes the connection remember where its policy comes from now.
            if (_source() is not null)
                tracked.FollowPolicy(_source);
        }
        return _next(connection);
    }
}
