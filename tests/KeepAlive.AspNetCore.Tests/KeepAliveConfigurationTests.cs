using KeepAlive.AspNetCore.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// How the policy is read from the <c>KeepAlive</c> section: the options the host resolves are the
/// ones the transport applies to every connection.
/// </summary>
public class KeepAliveConfigurationTests
{
    [Fact]
    public async Task Every_key_is_read()
    {
        var options = await ResolveAsync(
            new()
            {
                ["KeepAlive:Enabled"] = "false",
                ["KeepAlive:Idle"] = "00:00:07",
                ["KeepAlive:Interval"] = "00:00:03",
                ["KeepAlive:ProbeCount"] = "4",
                ["KeepAlive:UserTimeout"] = "00:00:09.5",
            },
            b => b.UseKeepAlivePolicy());

        Assert.False(options.Enabled);
        Assert.Equal(TimeSpan.FromSeconds(7), options.Idle);
        Assert.Equal(TimeSpan.FromSeconds(3), options.Interval);
        Assert.Equal(4, options.ProbeCount);
        Assert.Equal(TimeSpan.FromMilliseconds(9500), options.UserTimeout);
    }

    [Fact]
    public async Task Keys_are_case_insensitive_like_the_rest_of_configuration()
    {
        var options = await ResolveAsync(
            new()
            {
                ["keepalive:enabled"] = "False",
                ["KEEPALIVE:IDLE"] = "00:00:07",
                ["KeepAlive:interval"] = "00:00:03",
                ["keepAlive:PROBECOUNT"] = "4",
                ["Keepalive:userTimeout"] = "00:00:09",
            },
            b => b.UseKeepAlivePolicy());

        Assert.False(options.Enabled);
        Assert.Equal(TimeSpan.FromSeconds(7), options.Idle);
        Assert.Equal(TimeSpan.FromSeconds(3), options.Interval);
        Assert.Equal(4, options.ProbeCount);
        Assert.Equal(TimeSpan.FromSeconds(9), options.UserTimeout);
    }

    [Fact]
    public async Task Missing_section_gives_the_defaults()
    {
        var options = await ResolveAsync(new() { ["Other:Idle"] = "00:00:01" }, b => b.UseKeepAlivePolicy());

        Assert.True(options.Enabled);
        Assert.Equal(TimeSpan.FromSeconds(60), options.Idle);
        Assert.Equal(TimeSpan.FromSeconds(10), options.Interval);
        Assert.Equal(6, options.ProbeCount);
        Assert.Null(options.UserTimeout);
    }

    [Fact]
    public async Task Environment_variable_overrides_the_appsettings_layer()
    {
        // KeepAlive__Idle as a container would set it; a unique prefix keeps parallel tests and the
        // machine's own environment out of it.
        var prefix = $"KEEPALIVE_TEST_{Guid.NewGuid():N}_";
        Environment.SetEnvironmentVariable(prefix + "KeepAlive__Idle", "00:00:30");
        Environment.SetEnvironmentVariable(prefix + "KEEPALIVE__PROBECOUNT", "3");
        try
        {
            var options = await ResolveAsync(
                new() { ["KeepAlive:Idle"] = "00:02:00", ["KeepAlive:Interval"] = "00:00:05", ["KeepAlive:ProbeCount"] = "9" },
                b =>
                {
                    b.Configuration.AddEnvironmentVariables(prefix);
                    b.UseKeepAlivePolicy();
                });

            Assert.Equal(TimeSpan.FromSeconds(30), options.Idle);
            Assert.Equal(TimeSpan.FromSeconds(5), options.Interval); // not overridden: the lower layer stays
            Assert.Equal(3, options.ProbeCount);
        }
        finally
        {
            Environment.SetEnvironmentVariable(prefix + "KeepAlive__Idle", null);
            Environment.SetEnvironmentVariable(prefix + "KEEPALIVE__PROBECOUNT", null);
        }
    }

    [Fact]
    public async Task Code_configure_runs_after_configuration_and_sees_its_values()
    {
        var options = await ResolveAsync(
            new() { ["KeepAlive:ProbeCount"] = "4", ["KeepAlive:Interval"] = "00:00:03" },
            b => b.UseKeepAlivePolicy(o =>
            {
                o.ProbeCount += 1; // 4 from configuration, so configuration was read first
                o.Idle = TimeSpan.FromSeconds(20);
            }));

        Assert.Equal(5, options.ProbeCount);
        Assert.Equal(TimeSpan.FromSeconds(20), options.Idle);
        Assert.Equal(TimeSpan.FromSeconds(3), options.Interval);
    }

    [Fact]
    public async Task Calling_UseKeepAlivePolicy_twice_runs_both_configures_in_order()
    {
        // A library and the app may both call it; neither call may be lost.
        var options = await ResolveAsync(
            new(),
            b => b.UseKeepAlivePolicy(o => o.ProbeCount = 3).UseKeepAlivePolicy(o => o.ProbeCount *= 2));

        Assert.Equal(6, options.ProbeCount);
    }

    [Fact]
    public async Task Empty_UserTimeout_in_a_later_layer_restores_the_derived_default()
    {
        // An environment variable set to "" is how an operator removes a user timeout an appsettings file set.
        var options = await ResolveAsync(
            new() { ["KeepAlive:Idle"] = "00:00:07", ["KeepAlive:Interval"] = "00:00:03", ["KeepAlive:ProbeCount"] = "4", ["KeepAlive:UserTimeout"] = "00:00:05" },
            b =>
            {
                b.Configuration.AddInMemoryCollection([KeyValuePair.Create("KeepAlive:UserTimeout", (string?)"")]);
                b.UseKeepAlivePolicy();
            });

        Assert.Null(options.UserTimeout);
        Assert.Equal(TimeSpan.FromSeconds(7 + 3 * 4), options.EffectiveUserTimeout);
    }

    [Fact]
    public async Task Keys_set_to_null_are_not_set_and_are_not_mistaken_for_sections()
    {
        // JSON null, or a null in-memory value, has no value and no children: not set, not an error.
        var options = await ResolveAsync(
            new() { ["KeepAlive:Idle"] = null, ["KeepAlive:ProbeCount"] = "4", ["KeepAlive:UserTimeout"] = null },
            b => b.UseKeepAlivePolicy());

        Assert.Equal(TimeSpan.FromSeconds(60), options.Idle);
        Assert.Equal(4, options.ProbeCount);
        Assert.Null(options.UserTimeout);
    }

    [Fact]
    public void Generic_host_entry_point_reads_the_same_section()
    {
        // IWebHostBuilder.UseKeepAlivePolicy, for apps on Host.CreateDefaultBuilder().ConfigureWebHostDefaults(...).
        using var host = new HostBuilder()
            .ConfigureAppConfiguration(c => c.AddInMemoryCollection([KeyValuePair.Create("KeepAlive:ProbeCount", (string?)"4")]))
            .ConfigureWebHost(web => web
                .UseKestrel()
                .UseUrls("http://127.0.0.1:0")
                .UseKeepAlivePolicy(o => o.Idle = TimeSpan.FromSeconds(20))
                .Configure(_ => { }))
            .Build();

        var options = host.Services.GetRequiredService<IOptions<KeepAliveOptions>>().Value;

        Assert.Equal(4, options.ProbeCount);
        Assert.Equal(TimeSpan.FromSeconds(20), options.Idle);
    }

    // The options as the host resolves them for the transport; the host is never started, so no socket is opened.
    private static async Task<KeepAliveOptions> ResolveAsync(Dictionary<string, string?> configuration, Action<WebApplicationBuilder> configure)
    {
        await using var app = TestHost.CreateBuilder(configuration, configure).Build();
        return app.Services.GetRequiredService<IOptions<KeepAliveOptions>>().Value;
    }
}
