using System.Net;
using KeepAlive.AspNetCore.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// A bad policy must stop the app at startup with a message that lets the operator fix it without
/// reading code: the configuration key, the value found and the allowed range. Each case goes through a
/// real host (configuration, options, validation, Kestrel), as an app would.
/// </summary>
public class KeepAliveOptionsValidationTests
{
    private const string Seconds = "1 to 32767 seconds";
    private const string SecondsRange = "00:00:01 to 09:06:07 (1 to 32767 seconds)";
    private const string WholeSeconds = "whole seconds";
    private const string ProbeCountRange = "1 to 127";
    private const string UserTimeoutRange = "00:00:00 (off) to 24.20:31:23.647";
    private const string WholeMilliseconds = "whole milliseconds";
    private const string NotADuration = "is not a duration";
    private const string BareNumberHint = "a bare number, which .NET reads as days";

    /// <summary>Key under <c>KeepAlive</c>, value as written in configuration, fragments the one message must hold.</summary>
    public static TheoryData<string, string, string[]> BadConfiguration => new()
    {
        // TCP_KEEPIDLE / TCP_KEEPINTVL: 1..32767 s, else EINVAL (tcp(7)).
        { "Idle", "00:00:00", ["KeepAlive:Idle", "00:00:00", Seconds] },
        { "Idle", "-00:00:01", ["KeepAlive:Idle", "-00:00:01", Seconds] },
        { "Idle", "09:06:08", ["KeepAlive:Idle", "09:06:08", Seconds] }, // 32768 s
        { "Idle", "00:00:01.5", ["KeepAlive:Idle", "00:00:01.5", Seconds, WholeSeconds] },
        { "Idle", "60", ["KeepAlive:Idle", "'60'", Seconds, BareNumberHint] },
        { "Idle", "abc", ["KeepAlive:Idle", "'abc'", NotADuration, Seconds] },
        { "Interval", "00:00:00", ["KeepAlive:Interval", "00:00:00", Seconds] },
        { "Interval", "-00:00:01", ["KeepAlive:Interval", "-00:00:01", Seconds] },
        { "Interval", "09:06:08", ["KeepAlive:Interval", "09:06:08", Seconds] },
        { "Interval", "00:00:01.5", ["KeepAlive:Interval", "00:00:01.5", Seconds, WholeSeconds] },
        { "Interval", "60", ["KeepAlive:Interval", "'60'", Seconds, BareNumberHint] },
        { "Interval", "abc", ["KeepAlive:Interval", "'abc'", NotADuration, Seconds] },
        // TCP_KEEPCNT: 1..127.
        { "ProbeCount", "0", ["KeepAlive:ProbeCount", "is 0;", ProbeCountRange] },
        { "ProbeCount", "128", ["KeepAlive:ProbeCount", "is 128;", ProbeCountRange] },
        { "ProbeCount", "-1", ["KeepAlive:ProbeCount", "is -1;", ProbeCountRange] },
        { "ProbeCount", "six", ["KeepAlive:ProbeCount", "'six'", "not a whole number", ProbeCountRange] },
        // TCP_USER_TIMEOUT: an int of milliseconds, negative is EINVAL.
        { "UserTimeout", "-00:00:01", ["KeepAlive:UserTimeout", "-00:00:01", UserTimeoutRange] },
        { "UserTimeout", "00:00:00.0005", ["KeepAlive:UserTimeout", "00:00:00.0005", UserTimeoutRange, WholeMilliseconds] },
        { "UserTimeout", "24.20:31:23.648", ["KeepAlive:UserTimeout", "24.20:31:23.648", UserTimeoutRange] }, // int.MaxValue + 1 ms
        { "UserTimeout", "60", ["KeepAlive:UserTimeout", "'60'", UserTimeoutRange, BareNumberHint] },
        { "UserTimeout", "abc", ["KeepAlive:UserTimeout", "'abc'", NotADuration, UserTimeoutRange] },
        { "Enabled", "maybe", ["KeepAlive:Enabled", "'maybe'", "true or false"] },
        // A typo must not silently leave the default in force.
        { "Idel", "00:00:30", ["KeepAlive:Idel", "not a known key", "Enabled", "Idle", "Interval", "ProbeCount", "UserTimeout"] },
    };

    [Theory]
    [MemberData(nameof(BadConfiguration))]
    public async Task Bad_configuration_value_fails_startup_with_one_message_naming_key_value_and_range(string key, string value, string[] expected)
    {
        var failure = await StartupFailureAsync(Configuration((key, value)), b => b.UseKeepAlivePolicy());

        var message = Assert.Single(failure.Failures);
        foreach (var fragment in expected)
            Assert.Contains(fragment, message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Idle", SecondsRange)]
    [InlineData("Interval", SecondsRange)]
    [InlineData("UserTimeout", UserTimeoutRange)]
    public async Task Section_where_a_duration_is_expected_is_reported_not_read_as_empty(string key, string range)
    {
        // JSON such as "UserTimeout": { "Milliseconds": 5000 } has no value, only children; taking it for
        // "not set" would start with a policy the operator did not write.
        var failure = await StartupFailureAsync(
            [KeyValuePair.Create($"KeepAlive:{key}:Milliseconds", (string?)"5000")], b => b.UseKeepAlivePolicy());

        var message = Assert.Single(failure.Failures);
        Assert.Contains($"KeepAlive:{key}", message, StringComparison.Ordinal);
        Assert.Contains(range, message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("5")]
    [InlineData("24")]
    public async Task Bare_number_for_UserTimeout_is_not_silently_read_as_days(string value)
    {
        // "5" meant seconds or milliseconds, never 5 days; for Idle and Interval every bare number is out of
        // range and gets the hint, but 1 to 24 days fit TCP_USER_TIMEOUT, so they started without a word.
        var failure = await StartupFailureAsync(Configuration(("UserTimeout", value)), b => b.UseKeepAlivePolicy());

        var message = Assert.Single(failure.Failures);
        Assert.Contains("KeepAlive:UserTimeout", message, StringComparison.Ordinal);
        Assert.Contains(BareNumberHint, message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Several_bad_keys_report_every_message_at_once()
    {
        // An operator fixing one key per deployment would need five deployments.
        var failure = await StartupFailureAsync(
            Configuration(
                ("Enabled", "maybe"),
                ("Idle", "00:00:00"),
                ("Interval", "abc"),
                ("ProbeCount", "128"),
                ("UserTimeout", "-00:00:01"),
                ("Idel", "00:00:30")),
            b => b.UseKeepAlivePolicy());

        Assert.Equal(6, failure.Failures.Count());
        foreach (var key in new[] { "Enabled", "Idle", "Interval", "ProbeCount", "UserTimeout", "Idel" })
            Assert.Single(failure.Failures, m => m.StartsWith($"KeepAlive:{key}:", StringComparison.Ordinal) || m.StartsWith($"KeepAlive:{key} ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Derived_user_timeout_beyond_what_the_kernel_holds_is_rejected_not_shortened()
    {
        // Each value is valid, but Idle + Interval x ProbeCount = 32767 + 32767 x 127 s (48.13:02:56) does not
        // fit TCP_USER_TIMEOUT's int of milliseconds (24.20:31:23.647): the kernel would silently hold less.
        var failure = await StartupFailureAsync(
            Configuration(("Idle", "09:06:07"), ("Interval", "09:06:07"), ("ProbeCount", "127")), b => b.UseKeepAlivePolicy());

        var message = Assert.Single(failure.Failures);
        Assert.Contains("KeepAlive:UserTimeout is not set", message, StringComparison.Ordinal);
        Assert.Contains("48.13:02:56", message, StringComparison.Ordinal);
        Assert.Contains(UserTimeoutRange, message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invalid_configuration_fails_in_StartAsync_not_in_Build()
    {
        // The options are registered with ValidateOnStart: the host reports them when it starts, so code
        // between Build() and Run() (migrations, tooling that builds the app without running it) is not
        // cut off by a policy the server has not started with yet.
        var outcome = await TestHost.BuildStartAndStopAsync(
            TestHost.CreateBuilder(Configuration(("ProbeCount", "0")), b => b.UseKeepAlivePolicy()));

        Assert.True(outcome.BuildException is null, $"Build() threw, before the host was started: {outcome.BuildException}");
        Assert.IsType<OptionsValidationException>(outcome.StartException);
    }

    [Fact]
    public void Without_Kestrel_UseKeepAlivePolicy_fails_fast_and_says_what_to_call_first()
    {
        // An empty builder has no server; a policy that silently applied to nothing would look like it worked.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());

        var error = Assert.Throws<InvalidOperationException>(() => builder.UseKeepAlivePolicy());

        Assert.Contains("UseKestrel()", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void On_a_generic_host_UseKeepAlivePolicy_before_UseKestrel_fails_when_the_host_is_built()
    {
        var host = new HostBuilder().ConfigureWebHost(web => web.UseKeepAlivePolicy().UseKestrel().Configure(_ => { }));

        var error = Assert.Throws<InvalidOperationException>(() => host.Build());

        Assert.Contains("after UseKestrel()", error.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, Action<KeepAliveOptions>, string[]> BadCode => new()
    {
        { "ProbeCount = 0", o => o.ProbeCount = 0, ["KeepAlive:ProbeCount", "is 0;", ProbeCountRange] },
        { "Idle = 1.5 s", o => o.Idle = TimeSpan.FromMilliseconds(1500), ["KeepAlive:Idle", "00:00:01.5", Seconds, WholeSeconds] },
        { "Interval = 32768 s", o => o.Interval = TimeSpan.FromSeconds(32768), ["KeepAlive:Interval", "09:06:08", Seconds] },
        { "UserTimeout = -1 ms", o => o.UserTimeout = TimeSpan.FromMilliseconds(-1), ["KeepAlive:UserTimeout", "-00:00:00.001", UserTimeoutRange] },
    };

    [Theory]
    [MemberData(nameof(BadCode))]
    public async Task Bad_value_set_in_code_fails_startup_too(string _, Action<KeepAliveOptions> configure, string[] expected)
    {
        var failure = await StartupFailureAsync(null, b => b.UseKeepAlivePolicy(configure));

        var message = Assert.Single(failure.Failures);
        foreach (var fragment in expected)
            Assert.Contains(fragment, message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Code_cannot_hide_an_unreadable_configuration_value()
    {
        // The configured text is wrong even if code later overrides the key; the operator should hear of it.
        var failure = await StartupFailureAsync(
            Configuration(("Idle", "abc")),
            b => b.UseKeepAlivePolicy(o => o.Idle = TimeSpan.FromSeconds(30)));

        Assert.Contains("KeepAlive:Idle: 'abc'", Assert.Single(failure.Failures), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_endpoint_policy_fails_when_Kestrel_starts_with_the_same_kind_of_message()
    {
        var outcome = await TestHost.BuildStartAndStopAsync(TestHost.CreateBuilder(
            null,
            b => b.WebHost.ConfigureKestrel(k =>
                k.Listen(IPAddress.Loopback, 0, listen => listen.UseKeepAlivePolicy(o => o.Idle = TimeSpan.Zero))),
            defaultEndpoint: false));

        Assert.Null(outcome.BuildException);
        var failure = Assert.IsType<OptionsValidationException>(outcome.StartException);
        var message = Assert.Single(failure.Failures);
        Assert.Contains("KeepAlive:Idle", message, StringComparison.Ordinal);
        Assert.Contains("00:00:00", message, StringComparison.Ordinal);
        Assert.Contains(Seconds, message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Endpoint_policy_alone_reports_bad_configuration_when_Kestrel_starts()
    {
        // Without the app-wide UseKeepAlivePolicy(), the endpoint reads the KeepAlive section itself.
        var failure = await StartupFailureAsync(
            Configuration(("ProbeCount", "six"), ("Interval", "00:00:00")),
            b => b.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen => listen.UseKeepAlivePolicy())),
            defaultEndpoint: false);

        Assert.Equal(2, failure.Failures.Count());
        Assert.Contains(failure.Failures, m => m.Contains("KeepAlive:ProbeCount: 'six'", StringComparison.Ordinal) && m.Contains(ProbeCountRange, StringComparison.Ordinal));
        Assert.Contains(failure.Failures, m => m.Contains("KeepAlive:Interval is 00:00:00", StringComparison.Ordinal) && m.Contains(Seconds, StringComparison.Ordinal));
    }

    public static TheoryData<string, string, string, string, KeepAliveOptions> ValidEdges => new()
    {
        { "00:00:01", "09:06:07", "1", "00:00:00",
            new KeepAliveOptions { Idle = TimeSpan.FromSeconds(1), Interval = TimeSpan.FromSeconds(32767), ProbeCount = 1, UserTimeout = TimeSpan.Zero } },
        { "09:06:07", "00:00:01", "127", "24.20:31:23.647",
            new KeepAliveOptions { Idle = TimeSpan.FromSeconds(32767), Interval = TimeSpan.FromSeconds(1), ProbeCount = 127, UserTimeout = TimeSpan.FromMilliseconds(int.MaxValue) } },
    };

    [Theory]
    [MemberData(nameof(ValidEdges))]
    public async Task Values_at_the_edges_of_the_kernel_ranges_start_and_are_used(string idle, string interval, string probeCount, string userTimeout, KeepAliveOptions expected)
    {
        KeepAliveOptions? bound = null;
        var builder = TestHost.CreateBuilder(
            Configuration(("Idle", idle), ("Interval", interval), ("ProbeCount", probeCount), ("UserTimeout", userTimeout)),
            b => b.UseKeepAlivePolicy());

        // Read what the host resolved too, so an edge value silently replaced by a default would show.
        var outcome = await TestHost.BuildStartAndStopAsync(
            builder, app => bound = app.Services.GetRequiredService<IOptions<KeepAliveOptions>>().Value);

        Assert.Null(outcome.Failure);
        Assert.NotNull(bound);
        Assert.Equal(expected.Idle, bound.Idle);
        Assert.Equal(expected.Interval, bound.Interval);
        Assert.Equal(expected.ProbeCount, bound.ProbeCount);
        Assert.Equal(expected.UserTimeout, bound.UserTimeout);
    }

    private static async Task<OptionsValidationException> StartupFailureAsync(
        IEnumerable<KeyValuePair<string, string?>>? configuration, Action<WebApplicationBuilder> configure, bool defaultEndpoint = true)
    {
        var outcome = await TestHost.BuildStartAndStopAsync(TestHost.CreateBuilder(configuration, configure, defaultEndpoint));
        Assert.True(outcome.Failure is not null, "The app started; an OptionsValidationException was expected.");
        return Assert.IsType<OptionsValidationException>(outcome.Failure);
    }

    private static KeyValuePair<string, string?>[] Configuration(params (string Key, string Value)[] values) =>
        values.Select(v => KeyValuePair.Create($"KeepAlive:{v.Key}", (string?)v.Value)).ToArray();
}
