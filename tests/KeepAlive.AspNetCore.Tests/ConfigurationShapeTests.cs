using KeepAlive.AspNetCore.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// Configuration the binder would accept silently or misread: a value where a section belongs and the reverse, empty
/// names, lists, durations without seconds. Each is refused with the key, the value and what is allowed.
/// </summary>
public class ConfigurationShapeTests
{
    private const string Seconds = "allowed: 00:00:01 to 09:06:07 (1 to 32767 seconds), in whole seconds";
    private const string PolicyKeys = "Preset, Enabled, Idle, Interval, ProbeCount, UserTimeout";

    public static TheoryData<string[], string> Refused => new()
    {
        { ["KeepAlive=x"], "KeepAlive: 'x' is a single value; KeepAlive is a section, with the keys Enabled, Idle, Interval, ProbeCount, UserTimeout, Policies, Endpoints" },
        { ["KeepAlive:Policies=x"], "KeepAlive:Policies: 'x' is a single value; Policies is a section of named policies, e.g. KeepAlive:Policies:streaming:Idle=00:00:15" },
        { ["KeepAlive:Endpoints=x"], "KeepAlive:Endpoints: 'x' is a single value; Endpoints is a section that maps Kestrel endpoint names to policies, e.g. KeepAlive:Endpoints:Http=streaming" },
        { ["KeepAlive:Policies:fast=Aggressive"], $"KeepAlive:Policies:fast: 'Aggressive' is a single value; a policy is a section, with the keys {PolicyKeys}: write KeepAlive:Policies:fast:Preset=Aggressive" },
        { ["KeepAlive:Policies:fast=quick"], $"KeepAlive:Policies:fast: 'quick' is a single value; a policy is a section, with the keys {PolicyKeys}: write KeepAlive:Policies:fast:Idle=00:00:15" },
        // appsettings sets Idle, an environment variable KeepAlive__Idle__Seconds: the value must not hide the section.
        { ["KeepAlive:Idle=00:01:00", "KeepAlive:Idle:Seconds=5"], $"KeepAlive:Idle is '00:01:00' and a section as well (it has KeepAlive:Idle:Seconds); it takes a single value, {Seconds}" },
        { ["KeepAlive:Idle:Seconds=5"], $"KeepAlive:Idle is a section (it has KeepAlive:Idle:Seconds); it takes a single value, {Seconds}" },
        { ["KeepAlive:Policies:fast:Preset:Name=Aggressive"], "KeepAlive:Policies:fast:Preset is a section (it has KeepAlive:Policies:fast:Preset:Name); it takes a single value, allowed: one of AzureLoadBalancer, AwsNetworkLoadBalancer, GoogleCloudLoadBalancer, Aggressive" },
        { ["KeepAlive:Endpoints:Http:Policy=fast", "KeepAlive:Policies:fast:Preset=Aggressive"], "KeepAlive:Endpoints:Http is a section (it has KeepAlive:Endpoints:Http:Policy); it takes the name of a policy of KeepAlive:Policies, or default" },
        { ["KeepAlive:Policies::Idle=00:00:05"], "KeepAlive:Policies has an entry with an empty name (KeepAlive:Policies:, e.g. from a doubled __ in an environment variable); give it a name" },
        // A JSON array: "Policies": [ { "Idle": "00:00:05" } ].
        { ["KeepAlive:Policies:0:Idle=00:00:05", "KeepAlive:Policies:1:Preset=Aggressive"], "KeepAlive:Policies is a list (keys 0, 1); Policies is an object keyed by policy name, e.g. \"Policies\": { \"streaming\": { \"Idle\": \"00:00:15\" } }" },
        { ["KeepAlive:Endpoints:0=fast"], "KeepAlive:Endpoints is a list (keys 0); Endpoints is an object keyed by Kestrel endpoint name, e.g. \"Endpoints\": { \"Http\": \"streaming\" }" },
        { ["KeepAlive:Idle=00:30"], $"KeepAlive:Idle: '00:30' has no seconds; .NET would read it as 00:30:00 (30 minutes). Write 00:00:30 for 30 seconds or 00:30:00 for 30 minutes; {Seconds}" },
        { ["KeepAlive:Interval=1:00"], $"KeepAlive:Interval: '1:00' has no seconds; .NET would read it as 01:00:00 (1 hour). Write 00:01:00 for 1 minute or 01:00:00 for 1 hour; {Seconds}" },
        { ["KeepAlive:Policies:slow:Idle=1.02:03"], $"KeepAlive:Policies:slow:Idle: '1.02:03' has no seconds; .NET would read it as 1.02:03:00 (1 day 2 hours 3 minutes). Write 01:02:03 for 1 hour 2 minutes 3 seconds or 1.02:03:00 for 1 day 2 hours 3 minutes; {Seconds}" },
        // What TimeSpan.Parse reads as 24 days and as d:hh:mm:ss.
        { ["KeepAlive:Idle=24:00:00"], $"KeepAlive:Idle: '24:00:00' is not a duration; use a TimeSpan such as 00:01:00 (hh:mm:ss), {Seconds}" },
        { ["KeepAlive:Idle=0:00:00:30"], $"KeepAlive:Idle: '0:00:00:30' is not a duration; use a TimeSpan such as 00:01:00 (hh:mm:ss), {Seconds}" },
        // A fraction point with no digits, which TimeSpan's "c" takes.
        { ["KeepAlive:Interval=00:01:00."], $"KeepAlive:Interval: '00:01:00.' is not a duration; use a TimeSpan such as 00:01:00 (hh:mm:ss), {Seconds}" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void Misshapen_configuration_is_refused_naming_the_key_the_value_and_what_is_allowed(string[] settings, string expected)
    {
        var failure = Assert.Throws<OptionsValidationException>(() => Resolve(settings));

        Assert.Equal(expected, Assert.Single(failure.Failures));
    }

    [Fact]
    public void Every_misshapen_key_is_reported_at_once()
    {
        var failure = Assert.Throws<OptionsValidationException>(() => Resolve("KeepAlive:Policies:fast=Aggressive", "KeepAlive:Idle=00:30", "KeepAlive:Policies::Idle=00:00:05"));

        Assert.Equal(3, failure.Failures.Count());
    }

    [Theory]
    [InlineData("00:00:30", 30)]
    [InlineData("0:0:30", 30)]
    [InlineData(" 00:00:30 ", 30)]
    [InlineData("00:02:00.000", 120)]
    [InlineData("0.09:06:07", 32767)]
    public void Durations_with_seconds_are_read(string idle, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), Resolve($"KeepAlive:Idle={idle}").Idle);

    [Fact]
    public void Endpoint_mapped_to_default_is_the_top_level_policy()
    {
        var options = Resolve("KeepAlive:Endpoints:Http=default", "KeepAlive:Endpoints:Other=Default",
            "Kestrel:Endpoints:Http:Url=http://127.0.0.1:0", "Kestrel:Endpoints:Other:Url=http://127.0.0.1:0");

        Assert.Equal("default", options.Endpoints["Http"]);
        Assert.Equal("Default", options.Endpoints["other"]);
    }

    [Fact]
    public void Empty_values_where_sections_belong_are_nothing_set()
    {
        var options = Resolve("KeepAlive=", "KeepAlive:Policies=", "KeepAlive:Endpoints=", "KeepAlive:ProbeCount=4");

        Assert.Equal(4, options.ProbeCount);
        Assert.Empty(options.Policies);
        Assert.Empty(options.Endpoints);
    }

    // Validated as the host validates them at startup, through the options factory; no server is started.
    private static KeepAliveOptions Resolve(params string[] settings)
    {
        var configuration = settings.Select(s => s.Split('=', 2)).Select(p => KeyValuePair.Create(p[0], (string?)p[1]));
        using var app = TestHost.CreateBuilder(configuration, b => b.UseKeepAlivePolicy()).Build();
        return app.Services.GetRequiredService<IOptionsFactory<KeepAliveOptions>>().Create(Options.DefaultName);
    }
}
