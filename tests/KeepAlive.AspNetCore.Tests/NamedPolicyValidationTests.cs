using System.Net;
using KeepAlive.AspNetCore.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// Named policies, presets, endpoint and route policies that cannot work stop the app at startup, with a
/// message naming the key (or the code) that is wrong and what would be right. Each case runs a real host.
/// </summary>
public class NamedPolicyValidationTests
{
    private const string Presets = "the presets are AzureLoadBalancer, AwsNetworkLoadBalancer, GoogleCloudLoadBalancer, Aggressive";

    private static readonly (string Key, string Value)[] Streaming =
        [("Policies:streaming:Idle", "00:00:15"), ("Policies:streaming:Interval", "00:00:05"), ("Policies:streaming:ProbeCount", "3")];

    [Fact]
    public async Task Endpoint_naming_a_policy_that_does_not_exist_fails_naming_the_key_and_the_policies_there_are()
    {
        var failure = await StartupFailureAsync(WithStreamsEndpoint([.. Streaming, ("Endpoints:Streams", "streamng")]), b => b.UseKeepAlivePolicy());

        Assert.Equal(
            "KeepAlive:Endpoints:Streams names the policy 'streamng', which is not in KeepAlive:Policies; the policies are streaming",
            Assert.Single(failure.Failures));
    }

    [Fact]
    public async Task Endpoint_naming_a_policy_when_there_are_none_says_so()
    {
        var failure = await StartupFailureAsync(WithStreamsEndpoint(("Endpoints:Streams", "streaming")), b => b.UseKeepAlivePolicy());

        Assert.Equal(
            "KeepAlive:Endpoints:Streams names the policy 'streaming', which is not in KeepAlive:Policies; there are none",
            Assert.Single(failure.Failures));
    }

    [Fact]
    public async Task Endpoint_mapped_to_nothing_fails()
    {
        var failure = await StartupFailureAsync(Configuration([.. Streaming, ("Endpoints:Streams", "")]), b => b.UseKeepAlivePolicy());

        Assert.Equal("KeepAlive:Endpoints:Streams must name a policy of KeepAlive:Policies, or default", Assert.Single(failure.Failures));
    }

    [Fact]
    public async Task Endpoint_name_that_is_not_a_Kestrel_configuration_endpoint_fails_naming_the_key_and_the_endpoints()
    {
        var failure = await StartupFailureAsync(
            [.. Configuration([.. Streaming, ("Endpoints:Stream", "streaming")]), KeyValuePair.Create("Kestrel:Endpoints:Streams:Url", (string?)"http://127.0.0.1:0")],
            b => b.UseKeepAlivePolicy());

        Assert.Equal(
            "KeepAlive:Endpoints:Stream names the Kestrel endpoint 'Stream', which is not in Kestrel:Endpoints; the endpoints are Streams",
            Assert.Single(failure.Failures));
    }

    [Fact]
    public async Task Unknown_preset_in_configuration_fails_once_naming_the_key_and_the_presets()
    {
        var failure = await StartupFailureAsync(Configuration(("Policies:lb:Preset", "AzureLB")), b => b.UseKeepAlivePolicy());

        Assert.Equal($"KeepAlive:Policies:lb:Preset: 'AzureLB' is not a preset; {Presets}", Assert.Single(failure.Failures));
    }

    [Fact]
    public async Task Unknown_preset_in_code_fails_naming_the_key_and_the_presets()
    {
        var failure = await StartupFailureAsync(null, b => b.UseKeepAlivePolicy(o =>
            o.Policies["lb"] = new KeepAlivePolicyOptions { Preset = "AzureLB" }));

        Assert.Equal($"KeepAlive:Policies:lb:Preset: 'AzureLB' is not a preset; {Presets}", Assert.Single(failure.Failures));
    }

    /// <summary>Preset, key, value as configured, the one message expected.</summary>
    public static TheoryData<string, string, string, string> PresetWithBadValue => new()
    {
        { "Aggressive", "ProbeCount", "200", "KeepAlive:Policies:p:ProbeCount is 200; allowed: 1 to 127" },
        { "AzureLoadBalancer", "Idle", "10:00:00", "KeepAlive:Policies:p:Idle is 10:00:00; allowed: 00:00:01 to 09:06:07 (1 to 32767 seconds), in whole seconds" },
        { "AwsNetworkLoadBalancer", "Interval", "00:00:00", "KeepAlive:Policies:p:Interval is 00:00:00; allowed: 00:00:01 to 09:06:07 (1 to 32767 seconds), in whole seconds" },
        { "GoogleCloudLoadBalancer", "UserTimeout", "-00:00:01", "KeepAlive:Policies:p:UserTimeout is -00:00:01; allowed: 00:00:00 (off) to 24.20:31:23.647 (int.MaxValue milliseconds), in whole milliseconds" },
        { "Aggressive", "Idle", "abc", "KeepAlive:Policies:p:Idle: 'abc' is not a duration; use a TimeSpan such as 00:01:00 (hh:mm:ss), allowed: 00:00:01 to 09:06:07 (1 to 32767 seconds), in whole seconds" },
        { "Aggressive", "Idel", "00:00:30", "KeepAlive:Policies:p:Idel is not a known key; the keys are Preset, Enabled, Idle, Interval, ProbeCount, UserTimeout" },
    };

    [Theory]
    [MemberData(nameof(PresetWithBadValue))]
    public async Task Preset_with_a_bad_value_of_its_own_fails_naming_the_policys_key(string preset, string key, string value, string expected)
    {
        var failure = await StartupFailureAsync(Configuration(("Policies:p:Preset", preset), ($"Policies:p:{key}", value)), b => b.UseKeepAlivePolicy());

        Assert.Equal(expected, Assert.Single(failure.Failures));
    }

    [Fact]
    public async Task Every_bad_named_policy_is_reported_at_once()
    {
        // As for the default policy's keys: an operator should not need one deployment per mistake.
        var failure = await StartupFailureAsync(
            Configuration(("Policies:a:ProbeCount", "0"), ("Policies:b:Preset", "Aggressive"), ("Policies:b:Interval", "00:00:00"), ("Policies:c:ProbeCount", "200")),
            b => b.UseKeepAlivePolicy());

        Assert.Equal(3, failure.Failures.Count());
        Assert.Contains(failure.Failures, m => m.StartsWith("KeepAlive:Policies:a:ProbeCount is 0;", StringComparison.Ordinal));
        Assert.Contains(failure.Failures, m => m.StartsWith("KeepAlive:Policies:b:Interval is 00:00:00;", StringComparison.Ordinal));
        Assert.Contains(failure.Failures, m => m.StartsWith("KeepAlive:Policies:c:ProbeCount is 200;", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Bad_default_value_is_reported_once_at_its_own_key_not_again_for_each_policy_inheriting_it()
    {
        var failure = await StartupFailureAsync(
            Configuration([("ProbeCount", "0"), .. Streaming, ("Policies:inherits:Idle", "00:00:20")]),
            b => b.UseKeepAlivePolicy());

        Assert.Equal("KeepAlive:ProbeCount is 0; allowed: 1 to 127", Assert.Single(failure.Failures));
    }

    [Theory]
    [InlineData("default")]
    [InlineData("Default")]
    public async Task Policy_named_default_fails_since_that_name_is_the_top_level_policy(string name)
    {
        // "default" already names the top level (in logs, metrics, and for a route that wants it back): a named
        // policy called so would be ignored wherever it is named, silently.
        var failure = await StartupFailureAsync(
            WithStreamsEndpoint(($"Policies:{name}:Idle", "00:00:05"), ("Endpoints:Streams", name)), b => b.UseKeepAlivePolicy());

        Assert.Equal(
            $"KeepAlive:Policies:{name}: 'default' is the name of the top-level policy (the KeepAlive section itself); give this policy another name",
            Assert.Single(failure.Failures));
    }

    [Fact]
    public async Task Route_naming_a_policy_that_does_not_exist_fails_at_startup_naming_the_route_and_the_policy()
    {
        var outcome = await TestHost.BuildStartAndStopAsync(
            TestHost.CreateBuilder(Configuration(Streaming), b => b.UseKeepAlivePolicy()),
            app =>
            {
                app.UseKeepAliveRoutePolicies();
                app.MapGet("/events", () => "").WithKeepAlivePolicy("nope");
                app.MapGet("/fine", () => "").WithKeepAlivePolicy("streaming");
            });

        // Not at the first request to the route, hours later: when the app starts.
        Assert.Null(outcome.BuildException);
        var failure = Assert.IsType<OptionsValidationException>(outcome.StartException);
        var message = Assert.Single(failure.Failures);
        Assert.Contains("HTTP: GET /events", message, StringComparison.Ordinal);
        Assert.Contains("names the policy 'nope', which is not in KeepAlive:Policies; the policies are streaming", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Endpoint_naming_a_policy_in_code_that_does_not_exist_fails_when_Kestrel_starts()
    {
        var outcome = await TestHost.BuildStartAndStopAsync(TestHost.CreateBuilder(
            Configuration(Streaming),
            b =>
            {
                b.UseKeepAlivePolicy();
                b.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen => listen.UseKeepAlivePolicy("nope")));
            },
            defaultEndpoint: false));

        Assert.Null(outcome.BuildException);
        var failure = Assert.IsType<OptionsValidationException>(outcome.StartException);
        Assert.Equal(
            "listenOptions.UseKeepAlivePolicy(\"nope\") names the policy 'nope', which is not in KeepAlive:Policies; the policies are streaming",
            Assert.Single(failure.Failures));
    }

    [Fact]
    public async Task Route_policies_without_UseKeepAlivePolicy_on_the_builder_fail_at_once_saying_what_to_call()
    {
        var builder = TestHost.CreateBuilder(Configuration(Streaming), _ => { });
        await using var app = builder.Build();

        var error = Assert.Throws<InvalidOperationException>(() => app.UseKeepAliveRoutePolicies());

        Assert.Contains("app.UseKeepAliveRoutePolicies()", error.Message, StringComparison.Ordinal);
        Assert.Contains("builder.UseKeepAlivePolicy()", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Named_endpoint_policy_without_UseKeepAlivePolicy_on_the_builder_fails_when_Kestrel_starts_saying_what_to_call()
    {
        var outcome = await TestHost.BuildStartAndStopAsync(TestHost.CreateBuilder(
            Configuration(Streaming),
            b => b.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen => listen.UseKeepAlivePolicy("streaming"))),
            defaultEndpoint: false));

        Assert.Null(outcome.BuildException);
        var error = Assert.IsType<InvalidOperationException>(outcome.StartException);
        Assert.Contains("listenOptions.UseKeepAlivePolicy(\"streaming\")", error.Message, StringComparison.Ordinal);
        Assert.Contains("builder.UseKeepAlivePolicy()", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Valid_names_of_any_case_start()
    {
        var outcome = await TestHost.BuildStartAndStopAsync(
            TestHost.CreateBuilder(
                [.. Configuration([.. Streaming, ("Policies:lb:Preset", "awsnetworkloadbalancer"), ("Endpoints:Streams", "STREAMING")]),
                    KeyValuePair.Create("Kestrel:Endpoints:streams:Url", (string?)"http://127.0.0.1:0")],
                b =>
                {
                    b.UseKeepAlivePolicy();
                    b.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen => listen.UseKeepAlivePolicy("LB")));
                },
                defaultEndpoint: false),
            app =>
            {
                app.UseKeepAliveRoutePolicies();
                app.MapGet("/events", () => "").WithKeepAlivePolicy("Streaming");
            });

        Assert.Null(outcome.Failure);
    }

    private static async Task<OptionsValidationException> StartupFailureAsync(
        IEnumerable<KeyValuePair<string, string?>>? configuration, Action<WebApplicationBuilder> configure)
    {
        var outcome = await TestHost.BuildStartAndStopAsync(TestHost.CreateBuilder(configuration, configure));
        Assert.True(outcome.Failure is not null, "The app started; an OptionsValidationException was expected.");
        return Assert.IsType<OptionsValidationException>(outcome.Failure);
    }

    // With Kestrel:Endpoints:Streams, so that a KeepAlive:Endpoints:Streams fails for its policy only (every bad key is reported at once).
    private static KeyValuePair<string, string?>[] WithStreamsEndpoint(params (string Key, string Value)[] values) =>
        [.. Configuration(values), KeyValuePair.Create("Kestrel:Endpoints:Streams:Url", (string?)"http://127.0.0.1:0")];

    private static KeyValuePair<string, string?>[] Configuration(params (string Key, string Value)[] values) =>
        values.Select(v => KeyValuePair.Create($"KeepAlive:{v.Key}", (string?)v.Value)).ToArray();
}
