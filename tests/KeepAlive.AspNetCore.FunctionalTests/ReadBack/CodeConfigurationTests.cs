using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;

namespace KeepAlive.AspNetCore.FunctionalTests.ReadBack;

/// <summary>The policy configured in code, through each builder a user may have, and over configuration.</summary>
public class CodeConfigurationTests
{
    [Fact]
    public async Task WebApplicationBuilder_policy_is_on_every_accepted_connection()
    {
        await using var app = await KestrelApp.StartAsync(b => b.UseKeepAlivePolicy(o =>
        {
            o.Idle = TimeSpan.FromSeconds(20);
            o.Interval = TimeSpan.FromSeconds(4);
            o.ProbeCount = 5;
            o.UserTimeout = TimeSpan.FromMilliseconds(45_500);
        }));

        // Three connections, three accepted sockets: each gets the policy, not only the first.
        for (var i = 0; i < 3; i++)
            Assert.Equal(new KernelSocketOptions(true, 20, 4, 5, 45_500), await LoopbackClient.ReadOnNewConnectionAsync(app.BaseAddress));
    }

    [Fact]
    public async Task WebHost_form_on_WebApplicationBuilder_applies_the_policy()
    {
        await using var app = await KestrelApp.StartAsync(b => b.WebHost.UseKeepAlivePolicy(o =>
        {
            o.Idle = TimeSpan.FromSeconds(21);
            o.ProbeCount = 2;
        }));

        // UserTimeout unset: Idle + Interval x ProbeCount = 21 + 10 x 2 = 41 s.
        Assert.Equal(new KernelSocketOptions(true, 21, 10, 2, 41_000), await LoopbackClient.ReadOnNewConnectionAsync(app.BaseAddress));
    }

    [Fact]
    public async Task IWebHostBuilder_of_a_generic_host_applies_the_policy()
    {
        // A generic host with no defaults (no appsettings.json, no environment): only what the test says.
        using var host = new HostBuilder()
            .ConfigureWebHost(web => web
                .UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0))
                .UseKeepAlivePolicy(o => o.Interval = TimeSpan.FromSeconds(3))
                .Configure(app => app.Run(KernelReadBackEndpoint.WriteSocketOptionsAsync)))
            .ConfigureLogging(logging => logging.ClearProviders())
            .Build();
        await host.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            var address = new Uri(host.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single());
            // 60 + 3 x 6 = 78 s.
            Assert.Equal(new KernelSocketOptions(true, 60, 3, 6, 78_000), await LoopbackClient.ReadOnNewConnectionAsync(address));
        }
        finally
        {
            await host.StopAsync(TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task Code_overrides_a_configured_value_and_keeps_the_others()
    {
        await using var app = await KestrelApp.StartAsync(b =>
        {
            KeepAliveSection.Add(b.Configuration, "Idle=00:00:40", "Interval=00:00:07", "ProbeCount=5");
            b.UseKeepAlivePolicy(o => o.Idle = TimeSpan.FromSeconds(20));
        });

        // Idle from code; Interval and ProbeCount from configuration; UserTimeout computed from the result: 20 + 7 x 5 = 55 s.
        Assert.Equal(new KernelSocketOptions(true, 20, 7, 5, 55_000), await LoopbackClient.ReadOnNewConnectionAsync(app.BaseAddress));
    }

    [Fact]
    public async Task Code_can_clear_a_configured_user_timeout_back_to_computed()
    {
        await using var app = await KestrelApp.StartAsync(b =>
        {
            KeepAliveSection.Add(b.Configuration, "UserTimeout=00:00:09");
            b.UseKeepAlivePolicy(o => o.UserTimeout = null);
        });

        Assert.Equal(new KernelSocketOptions(true, 60, 10, 6, 120_000), await LoopbackClient.ReadOnNewConnectionAsync(app.BaseAddress));
    }

    [Fact]
    public async Task Two_registrations_combine_and_wrap_the_transport_once()
    {
        // An app and a library both calling UseKeepAlivePolicy: both changes apply, in order.
        var logs = new LogSink();
        await using var app = await KestrelApp.StartAsync(b =>
        {
            b.Logging.AddProvider(logs);
            b.UseKeepAlivePolicy(o => { o.Idle = TimeSpan.FromSeconds(30); o.ProbeCount = 8; });
            b.UseKeepAlivePolicy(o => o.ProbeCount = 4);
        });

        Assert.Equal(new KernelSocketOptions(true, 30, 10, 4, 70_000), await LoopbackClient.ReadOnNewConnectionAsync(app.BaseAddress));
        Assert.Single(logs.KeepAliveEvents("PolicyCreated"));
    }
}
