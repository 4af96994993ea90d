namespace KeepAlive.AspNetCore.FunctionalTests.Policies;

/// <summary>
/// Presets and inheritance, as the kernel holds them: each preset's values; a preset overridden key by
/// key; a named policy taking what it leaves unset from the default policy, the user timeout included.
/// </summary>
public class PresetTests
{
    [Fact]
    public async Task Each_preset_reads_back_its_documented_values()
    {
        var endpoints = await StartAsync(
            """
            {
              "KeepAlive": {
                "Policies": {
                  "azure": { "Preset": "AzureLoadBalancer" },
                  "aws": { "Preset": "AwsNetworkLoadBalancer" },
                  "gcp": { "Preset": "GoogleCloudLoadBalancer" },
                  "fast": { "Preset": "Aggressive" }
                }
              }
            }
            """,
            "azure", "aws", "gcp", "fast");
        await using var app = endpoints.App;

        // The user timeout is each preset's own Idle + Interval x ProbeCount.
        Assert.Equal(new KernelSocketOptions(true, 180, 10, 6, 240_000), await LoopbackClient.ReadOnNewConnectionAsync(endpoints["azure"]));
        Assert.Equal(new KernelSocketOptions(true, 300, 10, 5, 350_000), await LoopbackClient.ReadOnNewConnectionAsync(endpoints["aws"]));
        Assert.Equal(new KernelSocketOptions(true, 540, 10, 6, 600_000), await LoopbackClient.ReadOnNewConnectionAsync(endpoints["gcp"]));
        Assert.Equal(new KernelSocketOptions(true, 5, 2, 3, 11_000), await LoopbackClient.ReadOnNewConnectionAsync(endpoints["fast"]));
        // The library's default policy, untouched by the presets.
        Assert.Equal(new KernelSocketOptions(true, 60, 10, 6, 120_000), await LoopbackClient.ReadOnNewConnectionAsync(endpoints.Unnamed));
    }

    [Fact]
    public async Task Preset_names_are_case_insensitive()
    {
        var endpoints = await StartAsync("""{ "KeepAlive": { "Policies": { "azure": { "Preset": "azureloadbalancer" } } } }""", "azure");
        await using var app = endpoints.App;

        Assert.Equal(new KernelSocketOptions(true, 180, 10, 6, 240_000), await LoopbackClient.ReadOnNewConnectionAsync(endpoints["azure"]));
    }

    [Fact]
    public async Task Preset_is_overridden_key_by_key()
    {
        var endpoints = await StartAsync(
            """
            {
              "KeepAlive": {
                "Policies": {
                  "azure-3-probes": { "Preset": "AzureLoadBalancer", "ProbeCount": 3 },
                  "fast-bounded": { "Preset": "Aggressive", "Idle": "00:00:07", "UserTimeout": "00:00:20" },
                  "aws-off": { "Preset": "AwsNetworkLoadBalancer", "Enabled": false }
                }
              }
            }
            """,
            "azure-3-probes", "fast-bounded", "aws-off");
        await using var app = endpoints.App;

        // Only ProbeCount changes; the derived user timeout follows it: 180 + 10 x 3.
        Assert.Equal(new KernelSocketOptions(true, 180, 10, 3, 210_000), await LoopbackClient.ReadOnNewConnectionAsync(endpoints["azure-3-probes"]));
        Assert.Equal(new KernelSocketOptions(true, 7, 2, 3, 20_000), await LoopbackClient.ReadOnNewConnectionAsync(endpoints["fast-bounded"]));
        // Enabled = false over a preset: no probes, and no user timeout that was not asked for.
        var off = await LoopbackClient.ReadOnNewConnectionAsync(endpoints["aws-off"]);
        Assert.False(off.KeepAlive, $"SO_KEEPALIVE should be off; read back {off}");
        Assert.True(off.UserTimeoutMilliseconds == 0, $"TCP_USER_TIMEOUT should be 0 (off); read back {off}");
    }

    [Fact]
    public async Task Named_policy_takes_unset_values_from_the_default_and_derives_its_own_user_timeout()
    {
        var endpoints = await StartAsync(
            """
            {
              "KeepAlive": {
                "Idle": "00:00:40", "Interval": "00:00:04", "ProbeCount": 5,
                "Policies": { "two-probes": { "ProbeCount": 2 }, "empty": {} }
              }
            }
            """,
            "two-probes", "empty");
        await using var app = endpoints.App;

        // Idle and Interval from the default; user timeout 40 + 4 x 2 = 48 s, not the default's 40 + 4 x 5 = 60 s.
        Assert.Equal(new KernelSocketOptions(true, 40, 4, 2, 48_000), await LoopbackClient.ReadOnNewConnectionAsync(endpoints["two-probes"]));
        Assert.Equal(new KernelSocketOptions(true, 40, 4, 5, 60_000), await LoopbackClient.ReadOnNewConnectionAsync(endpoints["empty"]));
        Assert.Equal(new KernelSocketOptions(true, 40, 4, 5, 60_000), await LoopbackClient.ReadOnNewConnectionAsync(endpoints.Unnamed));
    }

    [Fact]
    public async Task The_top_levels_user_timeout_is_not_inherited_a_named_policy_derives_its_own()
    {
        // A user timeout is set for a keepalive span (Linux ignores ProbeCount once one is set): the top level's 45 s
        // would hold a dead idle peer of "azure" 45 s instead of 4 min, and the issue's sample pinned 2 min over an
        // Aggressive policy's 11 s.
        var endpoints = await StartAsync(
            """
            {
              "KeepAlive": {
                "UserTimeout": "00:00:45",
                "Policies": {
                  "two-probes": { "ProbeCount": 2 },
                  "azure": { "Preset": "AzureLoadBalancer" },
                  "own": { "Preset": "AzureLoadBalancer", "UserTimeout": "00:05:00" }
                }
              }
            }
            """,
            "two-probes", "azure", "own");
        await using var app = endpoints.App;

        Assert.Equal(new KernelSocketOptions(true, 60, 10, 2, 80_000), await LoopbackClient.ReadOnNewConnectionAsync(endpoints["two-probes"]));
        Assert.Equal(new KernelSocketOptions(true, 180, 10, 6, 240_000), await LoopbackClient.ReadOnNewConnectionAsync(endpoints["azure"]));
        Assert.Equal(new KernelSocketOptions(true, 180, 10, 6, 300_000), await LoopbackClient.ReadOnNewConnectionAsync(endpoints["own"]));
        Assert.Equal(new KernelSocketOptions(true, 60, 10, 6, 45_000), await LoopbackClient.ReadOnNewConnectionAsync(endpoints.Unnamed));
    }

    [Fact]
    public async Task Preset_set_in_code_applies_like_one_from_configuration()
    {
        var endpoints = await EndpointPolicyTests.StartCodeEndpointsAsync(
            b => b.UseKeepAlivePolicy(o =>
            {
                o.Policies["gcp"] = new KeepAlivePolicyOptions { Preset = KeepAlivePresets.GoogleCloudLoadBalancer };
                o.Policies["fast"] = new KeepAlivePolicyOptions { Preset = KeepAlivePresets.Aggressive, ProbeCount = 4 };
            }),
            ["gcp", "fast"]);
        await using var app = endpoints.App;

        Assert.Equal(new KernelSocketOptions(true, 540, 10, 6, 600_000), await LoopbackClient.ReadOnNewConnectionAsync(endpoints["gcp"]));
        Assert.Equal(new KernelSocketOptions(true, 5, 2, 4, 13_000), await LoopbackClient.ReadOnNewConnectionAsync(endpoints["fast"]));
    }

    private static Task<EndpointPolicyTests.CodeEndpoints> StartAsync(string json, params string[] policyNames) =>
        EndpointPolicyTests.StartCodeEndpointsAsync(b => IssueConfiguration.Add(b.Configuration, json), policyNames);
}
