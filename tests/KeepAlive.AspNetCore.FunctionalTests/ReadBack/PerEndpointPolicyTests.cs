using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace KeepAlive.AspNetCore.FunctionalTests.ReadBack;

/// <summary>
/// <c>listenOptions.UseKeepAlivePolicy(...)</c>: one endpoint's own policy, which takes precedence over
/// the app-wide one on that endpoint and leaves the other endpoints alone.
/// </summary>
public class PerEndpointPolicyTests
{
    private static void AppWide(KeepAliveOptions o)
    {
        o.Idle = TimeSpan.FromSeconds(30);
        o.Interval = TimeSpan.FromSeconds(5);
        o.ProbeCount = 4;
    }

    // App-wide policy above: 30 + 5 x 4 = 50 s user timeout.
    private static readonly KernelSocketOptions AppWideExpected = new(true, 30, 5, 4, 50_000);

    [Fact]
    public async Task Each_endpoint_reads_back_its_own_policy()
    {
        Uri? overridden = null, plain = null;
        await using var app = await StartTwoEndpointsAsync(
            b => b.UseKeepAlivePolicy(AppWide),
            listen => listen.UseKeepAlivePolicy(o => o.Idle = TimeSpan.FromSeconds(15)),
            (o, p) => (overridden, plain) = (o, p));

        // The endpoint's policy starts from the app-wide one: only Idle changes, the user timeout is recomputed (15 + 5 x 4).
        Assert.Equal(new KernelSocketOptions(true, 15, 5, 4, 35_000), await LoopbackClient.ReadOnNewConnectionAsync(overridden!));
        Assert.Equal(AppWideExpected, await LoopbackClient.ReadOnNewConnectionAsync(plain!));
    }

    [Fact]
    public async Task Endpoint_policy_without_app_wide_registration_reads_the_KeepAlive_section()
    {
        Uri? withPolicy = null, without = null;
        await using var app = await StartTwoEndpointsAsync(
            b => KeepAliveSection.Add(b.Configuration, "Idle=00:00:12", "ProbeCount=2"),
            listen => listen.UseKeepAlivePolicy(),
            (o, p) => (withPolicy, without) = (o, p));

        Assert.Equal(new KernelSocketOptions(true, 12, 10, 2, 32_000), await LoopbackClient.ReadOnNewConnectionAsync(withPolicy!));
        // No app-wide policy: the other endpoint is untouched.
        Assert.Equal(KernelSocketOptions.LinuxDefaults, await LoopbackClient.ReadOnNewConnectionAsync(without!));
    }

    [Fact]
    public async Task Endpoint_policy_without_section_or_registration_uses_the_defaults()
    {
        await using var app = await KestrelApp.StartAsync(b =>
            b.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen => listen.UseKeepAlivePolicy())),
            defaultEndpoint: false);

        Assert.Equal(new KernelSocketOptions(true, 60, 10, 6, 120_000), await LoopbackClient.ReadOnNewConnectionAsync(app.BaseAddress));
    }

    [Fact]
    public async Task Endpoint_with_keepalive_disabled_overrides_the_app_wide_policy()
    {
        // Enabled=false on the endpoint: SO_KEEPALIVE off and, as documented, no user timeout unless set
        // explicitly. A user timeout left over from the app-wide policy would still cut connections on
        // this endpoint after 50 s of unacknowledged data, which is what this endpoint asked not to have.
        Uri? disabled = null, plain = null;
        await using var app = await StartTwoEndpointsAsync(
            b => b.UseKeepAlivePolicy(AppWide),
            listen => listen.UseKeepAlivePolicy(o => o.Enabled = false),
            (o, p) => (disabled, plain) = (o, p));

        // Idle, Interval and ProbeCount are not asserted: with SO_KEEPALIVE off they do nothing, whatever they hold.
        var options = await LoopbackClient.ReadOnNewConnectionAsync(disabled!);
        Assert.False(options.KeepAlive, $"SO_KEEPALIVE should be off; read back {options}");
        Assert.True(options.UserTimeoutMilliseconds == 0, $"TCP_USER_TIMEOUT should be 0 (off); read back {options}");
        Assert.Equal(AppWideExpected, await LoopbackClient.ReadOnNewConnectionAsync(plain!));
    }

    [Fact]
    public async Task Endpoint_with_zero_user_timeout_overrides_the_app_wide_one()
    {
        // UserTimeout = 00:00:00 means the kernel default (0, off); on this endpoint that must win over the app-wide 50 s.
        Uri? noUserTimeout = null, plain = null;
        await using var app = await StartTwoEndpointsAsync(
            b => b.UseKeepAlivePolicy(AppWide),
            listen => listen.UseKeepAlivePolicy(o => o.UserTimeout = TimeSpan.Zero),
            (o, p) => (noUserTimeout, plain) = (o, p));

        Assert.Equal(AppWideExpected with { UserTimeoutMilliseconds = 0 }, await LoopbackClient.ReadOnNewConnectionAsync(noUserTimeout!));
        Assert.Equal(AppWideExpected, await LoopbackClient.ReadOnNewConnectionAsync(plain!));
    }

    [Fact]
    public async Task Configuration_endpoint_takes_its_own_policy_through_the_loader()
    {
        // Kestrel:Endpoints from configuration, with code for one of them: the documented
        // kestrel.Configure(section).Endpoint(name, ...) pattern.
        ListenOptions? tuned = null;
        await using var app = await KestrelApp.StartAsync(b =>
        {
            b.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Kestrel:Endpoints:Tuned:Url"] = "http://127.0.0.1:0",
                ["Kestrel:Endpoints:Plain:Url"] = "http://127.0.0.1:0",
            });
            b.UseKeepAlivePolicy(AppWide);
            b.WebHost.ConfigureKestrel((context, k) => k.Configure(context.Configuration.GetSection("Kestrel"))
                .Endpoint("Tuned", endpoint =>
                {
                    tuned = endpoint.ListenOptions;
                    endpoint.ListenOptions.UseKeepAlivePolicy(o => o.ProbeCount = 2);
                }));
        }, defaultEndpoint: false);

        var (tunedAddress, plainAddress) = Split(app, tuned!);
        Assert.Equal(new KernelSocketOptions(true, 30, 5, 2, 40_000), await LoopbackClient.ReadOnNewConnectionAsync(tunedAddress));
        Assert.Equal(AppWideExpected, await LoopbackClient.ReadOnNewConnectionAsync(plainAddress));
    }

    // Two endpoints on 127.0.0.1: the first with the endpoint policy, the second without.
    private static async Task<KestrelApp> StartTwoEndpointsAsync(
        Action<WebApplicationBuilder> configure, Action<ListenOptions> endpointPolicy, Action<Uri, Uri> addresses)
    {
        ListenOptions? withPolicy = null;
        var app = await KestrelApp.StartAsync(b =>
        {
            configure(b);
            b.WebHost.ConfigureKestrel(k =>
            {
                k.Listen(IPAddress.Loopback, 0, listen =>
                {
                    withPolicy = listen;
                    endpointPolicy(listen);
                });
                k.Listen(IPAddress.Loopback, 0);
            });
        }, defaultEndpoint: false);
        try
        {
            var (endpoint, other) = Split(app, withPolicy!);
            addresses(endpoint, other);
            return app;
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }

    // Which bound address is which: Kestrel writes the port it bound back into the endpoint's ListenOptions.
    private static (Uri Endpoint, Uri Other) Split(KestrelApp app, ListenOptions endpoint)
    {
        Assert.Equal(2, app.Addresses.Count);
        var port = Assert.IsType<IPEndPoint>(endpoint.EndPoint).Port;
        var addresses = app.Addresses.Select(a => new Uri(a)).ToList();
        return (addresses.Single(a => a.Port == port), addresses.Single(a => a.Port != port));
    }
}
