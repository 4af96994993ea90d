using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The tags the library adds to Kestrel's own <c>kestrel.connection.duration</c>, through
/// <see cref="IConnectionMetricsTagsFeature"/> (present only while that histogram is listened to).
/// </summary>
internal static class KestrelConnectionTags
{
    /// <summary>The policy the connection is served under, once Kestrel starts serving it.</summary>
    public static void AddPolicy(IFeatureCollection features, string policy) =>
        features.Get<IConnectionMetricsTagsFeature>()?.Tags.Add(new(KeepAliveTags.Policy, policy));

    /// <summary>
    /// A lost connection's cause, as its <c>error.type</c>, unless Kestrel set one first: Kestrel copies its own end
    /// reason into these tags before it completes the connection, so a cause judged later (the kernel's, at completion)
    /// goes in only where Kestrel saw a normal close; one judged at Kestrel's abort goes in first.
    /// </summary>
    public static void AddCause(IFeatureCollection features, LostConnectionCause cause)
    {
        if (features.Get<IConnectionMetricsTagsFeature>()?.Tags is { } tags && !tags.Any(t => t.Key == KeepAliveTags.ErrorType))
            tags.Add(new(KeepAliveTags.ErrorType, cause.ToErrorType()));
    }
}
