using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Options;

namespace KeepAlive.AspNetCore.FunctionalTests.ReadBack;

/// <summary>
/// The policy through <see cref="IHostApplicationBuilder"/>, as an Aspire ServiceDefaults project calls it
/// (<c>builder.AddServiceDefaults()</c> shared by every service of a solution, web or not): the same section and
/// validation as <c>WebApplicationBuilder.UseKeepAlivePolicy()</c>, read back from the kernel; nothing at all on a
/// host without Kestrel.
/// </summary>
public class HostApplicationBuilderTests
{
    [Fact]
    public async Task ServiceDefaults_shaped_call_gives_every_connection_the_configured_policy()
    {
        await using var app = await KestrelApp.StartAsync(b =>
        {
            KeepAliveSection.Add(b.Configuration, "Idle=00:00:25", "Interval=00:00:05", "ProbeCount=3");
            AddServiceDefaults(b);
        });

        // 25 + 5 x 3 = 40 s; two connections, two accepted sockets.
        for (var i = 0; i < 2; i++)
            Assert.Equal(new KernelSocketOptions(true, 25, 5, 3, 40_000), await LoopbackClient.ReadOnNewConnectionAsync(app.BaseAddress));
    }

    [Fact]
    public async Task Code_changes_apply_after_the_section_and_named_policies_serve_routes()
    {
        await using var app = await KestrelApp.StartAsync(
            b =>
            {
                KeepAliveSection.Add(b.Configuration, "Idle=00:00:40", "Policies:streaming:Idle=00:00:12", "Policies:streaming:ProbeCount=2");
                AddServiceDefaults(b, o => o.Interval = TimeSpan.FromSeconds(4));
            },
            a =>
            {
                a.UseKeepAliveRoutePolicies();
                a.MapGet("/stream-socket", KernelReadBackEndpoint.WriteSocketOptionsAsync).WithKeepAlivePolicy("streaming");
            });

        // Idle from the section, Interval from code, ProbeCount the default: 40 + 4 x 6 = 64 s.
        Assert.Equal(new KernelSocketOptions(true, 40, 4, 6, 64_000), await LoopbackClient.ReadOnNewConnectionAsync(app.BaseAddress));
        // The route's named policy: its own 12 s idle and 2 probes, the app-wide interval code set (4 s): 12 + 4 x 2 = 20 s.
        using var client = LoopbackClient.Create();
        var json = await client.GetStringAsync(new Uri(app.BaseAddress, "/stream-socket"), TestContext.Current.CancellationToken);
        Assert.Equal(new KernelSocketOptions(true, 12, 4, 2, 20_000), System.Text.Json.JsonSerializer.Deserialize<KernelSocketOptions>(json, System.Text.Json.JsonSerializerOptions.Web));
    }

    [Fact]
    public async Task Invalid_configuration_fails_startup_as_the_WebApplicationBuilder_form_does()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["KeepAlive:ProbeCount"] = "0" });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        AddServiceDefaults(builder);
        await using var app = builder.Build();

        var failure = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync(TestContext.Current.CancellationToken));
        Assert.Equal(["KeepAlive:ProbeCount is 0; allowed: 1 to 127"], failure.Failures);
    }

    [Fact]
    public async Task A_host_without_Kestrel_starts_and_stops_untouched_even_with_a_bad_section()
    {
        // A worker service sharing the ServiceDefaults project: no Kestrel, and a KeepAlive section it never uses.
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["KeepAlive:ProbeCount"] = "0" });
        var returned = AddServiceDefaults(builder);
        var worked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        builder.Services.AddHostedService(_ => new Worker(worked));
        using var host = builder.Build();

        await host.StartAsync(TestContext.Current.CancellationToken);
        await worked.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        await host.StopAsync(TestContext.Current.CancellationToken);

        Assert.Same(builder, returned);
        Assert.Null(host.Services.GetService<KeepAlivePolicies>());
    }

    [Fact]
    public void Kestrel_added_after_the_call_fails_startup_with_the_fix()
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        AddServiceDefaults(builder);
        builder.WebHost.UseKestrelCore().UseUrls("http://127.0.0.1:0");

        // WebApplication resolves its server, Kestrel, when it is built: that is where it fails, before serving anything.
        var failure = Assert.Throws<InvalidOperationException>(() => builder.Build());
        Assert.Contains("before Kestrel was added", failure.Message, StringComparison.Ordinal);
        Assert.Contains("UseKestrelCore()", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Kestrel_added_after_the_call_then_registered_keeps_the_change_of_the_first_call()
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        AddServiceDefaults(builder, o => o.Idle = TimeSpan.FromSeconds(33));
        builder.WebHost.UseKestrelCore().UseUrls("http://127.0.0.1:0");
        builder.WebHost.UseKeepAlivePolicy();
        await using var app = builder.Build();
        app.Run(KernelReadBackEndpoint.WriteSocketOptionsAsync);
        await app.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            // 33 + 10 x 6 = 93 s: the first call's change, kept for the registration that came after Kestrel.
            using var client = LoopbackClient.Create();
            var json = await client.GetStringAsync(new Uri(app.Urls.Single()), TestContext.Current.CancellationToken);
            Assert.Equal(new KernelSocketOptions(true, 33, 10, 6, 93_000), System.Text.Json.JsonSerializer.Deserialize<KernelSocketOptions>(json, System.Text.Json.JsonSerializerOptions.Web));
        }
        finally
        {
            await app.StopAsync(TestContext.Current.CancellationToken);
        }
    }

    // An Aspire ServiceDefaults project's extension method: generic over the builder, as the template's is, so the
    // IHostApplicationBuilder entry point is the one called (on a WebApplicationBuilder variable the compiler picks
    // WebApplicationBuilder.UseKeepAlivePolicy()).
    private static TBuilder AddServiceDefaults<TBuilder>(TBuilder builder, Action<KeepAliveOptions>? configure = null) where TBuilder : IHostApplicationBuilder =>
        configure is null ? builder.UseKeepAlivePolicy() : builder.UseKeepAlivePolicy(configure);

    private sealed class Worker(TaskCompletionSource worked) : BackgroundService
    {
        protected override Task ExecuteAsync(CancellationToken stoppingToken)
        {
            worked.TrySetResult();
            return Task.CompletedTask;
        }
    }
}
