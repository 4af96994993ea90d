namespace KeepAlive.AspNetCore;

/// <summary>
/// Policies for common deployments. Behind a load balancer, the first probe must go out before the
/// balancer's idle timeout forgets the flow; each preset sends it a minute or more before that, and gives
/// up on a dead peer about when the balancer would have forgotten it anyway.
/// </summary>
public static class KeepAlivePresets
{
    /// <summary>
    /// Azure Load Balancer: TCP idle timeout 4 minutes by default (configurable 4 to 100 minutes; Azure
    /// Load Balancer documentation, "Configure TCP reset and idle timeout"). Idle 3 min, Interval 10 s, 6 probes.
    /// </summary>
    public const string AzureLoadBalancer = nameof(AzureLoadBalancer);

    /// <summary>
    /// AWS Network Load Balancer: TCP idle timeout 350 seconds (Elastic Load Balancing documentation,
    /// "Connection idle timeout" for Network Load Balancers). Idle 5 min, Interval 10 s, 5 probes.
    /// </summary>
    public const string AwsNetworkLoadBalancer = nameof(AwsNetworkLoadBalancer);

    /// <summary>
    /// Google Cloud load balancers: 600 seconds of idle connection tracking (Google Cloud documentation,
    /// "Backend service settings": TCP idle timeout of proxy and passthrough load balancers). Idle 9 min,
    /// Interval 10 s, 6 probes.
    /// </summary>
    public const string GoogleCloudLoadBalancer = nameof(GoogleCloudLoadBalancer);

    /// <summary>
    /// Dead-peer detection within seconds, for clients that must be released fast (streams, presence):
    /// Idle 5 s, Interval 2 s, 3 probes, so a dead peer is dropped after about 11 s idle or busy.
    /// </summary>
    public const string Aggressive = nameof(Aggressive);

    /// <summary>The preset names, as configuration accepts them (case-insensitive).</summary>
    public static IReadOnlyList<string> Names { get; } = [AzureLoadBalancer, AwsNetworkLoadBalancer, GoogleCloudLoadBalancer, Aggressive];

    /// <summary>The values of <paramref name="preset"/>; <see langword="null"/> when there is no such preset.</summary>
    internal static KeepAlivePolicyOptions? Find(string preset) => preset.ToUpperInvariant() switch
    {
        "AZURELOADBALANCER" => Values(TimeSpan.FromMinutes(3), 6),
        "AWSNETWORKLOADBALANCER" => Values(TimeSpan.FromMinutes(5), 5),
        "GOOGLECLOUDLOADBALANCER" => Values(TimeSpan.FromMinutes(9), 6),
        "AGGRESSIVE" => new KeepAlivePolicyOptions { Enabled = true, Idle = TimeSpan.FromSeconds(5), Interval = TimeSpan.FromSeconds(2), ProbeCount = 3 },
        _ => null,
    };

    private static KeepAlivePolicyOptions Values(TimeSpan idle, int probeCount) =>
        new() { Enabled = true, Idle = idle, Interval = TimeSpan.FromSeconds(10), ProbeCount = probeCount };
}
