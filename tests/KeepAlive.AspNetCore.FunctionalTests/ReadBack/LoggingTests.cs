using System.Net;

namespace KeepAlive.AspNetCore.FunctionalTests.ReadBack;

/// <summary>
/// What the library tells the operator: the policy and its bounds once at startup, and a warning, once, when the
/// user timeout would end idle connections before the keepalive probes are used up.
/// </summary>
public class LoggingTests
{
    private const string PolicyCreated = "PolicyCreated";
    private const string UserTimeoutCutsKeepAliveShort = "UserTimeoutCutsKeepAliveShort";

    [Fact]
    public async Task PolicyCreated_states_the_policy_once_at_startup()
    {
        var logs = new LogSink();
        await using var app = await KestrelApp.StartAsync(b =>
        {
            b.Logging.AddProvider(logs);
            b.UseKeepAlivePolicy(o =>
            {
                o.Idle = TimeSpan.FromSeconds(20);
                o.Interval = TimeSpan.FromSeconds(5);
                o.ProbeCount = 4;
            });
            // Two endpoints: the app-wide policy is one policy, logged once, not once per endpoint.
            b.WebHost.ConfigureKestrel(k =>
            {
                k.Listen(IPAddress.Loopback, 0);
                k.Listen(IPAddress.Loopback, 0);
            });
        }, defaultEndpoint: false);
        Assert.Equal(2, app.Addresses.Count);

        // Before any connection: logged at startup.
        var entry = Assert.Single(logs.KeepAliveEvents(PolicyCreated));
        Assert.Equal(LogLevel.Information, entry.Level);
        Assert.Equal(true, entry.Fields["Enabled"]);
        Assert.Equal("00:00:20", entry.Fields["Idle"]);
        Assert.Equal("00:00:05", entry.Fields["Interval"]);
        Assert.Equal(4, entry.Fields["ProbeCount"]);
        Assert.Equal("00:00:40 (derived)", entry.Fields["UserTimeout"]); // the computed one, as the kernel gets it
        Assert.Equal(
            "a dead idle peer is let go 40 s after its last sign of life (4 unanswered probes); " +
            "a peer that stops acknowledging data 40 s after the first unacknowledged send; " +
            "a live peer that stops reading 40 s after its window closed; " +
            "a peer that vanishes from a connection written to now and then at most 1 min 20 s after its last sign of life (a write just before the keepalive verdict starts the user timeout)",
            entry.Fields["Bounds"]);
        Assert.Equal("SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_USER_TIMEOUT", entry.Fields["SocketOptions"]);

        foreach (var address in app.Addresses)
            Assert.Equal(new KernelSocketOptions(true, 20, 5, 4, 40_000), await LoopbackClient.ReadOnNewConnectionAsync(new Uri(address)));
        Assert.Single(logs.KeepAliveEvents(PolicyCreated));
        Assert.DoesNotContain(logs.KeepAlive, e => e.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task Short_user_timeout_warns_once_at_startup_not_per_connection()
    {
        var logs = new LogSink();
        await using var app = await KestrelApp.StartAsync(b =>
        {
            b.Logging.AddProvider(logs);
            b.UseKeepAlivePolicy(o =>
            {
                o.Idle = TimeSpan.FromSeconds(20);
                o.Interval = TimeSpan.FromSeconds(5);
                o.ProbeCount = 4;
                o.UserTimeout = TimeSpan.FromSeconds(10); // < 20 + 5 x 4 = 40 s
            });
        });

        var warning = Assert.Single(logs.KeepAliveEvents(UserTimeoutCutsKeepAliveShort));
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Equal("KeepAlive:UserTimeout", warning.Fields["Key"]);
        Assert.Equal("10 s", warning.Fields["UserTimeout"]);
        Assert.Equal("40 s", warning.Fields["KeepAliveSpan"]);
        // Linux gives up at the first keepalive firing past the user timeout, but never before the second: 20 s + 5 s.
        Assert.Equal("25 s", warning.Fields["IdleBound"]);
        Assert.Equal(1, warning.Fields["Probes"]);

        // The warning does not stop the policy: every connection still gets it as configured.
        for (var i = 0; i < 5; i++)
            Assert.Equal(new KernelSocketOptions(true, 20, 5, 4, 10_000), await LoopbackClient.ReadOnNewConnectionAsync(app.BaseAddress));
        Assert.Single(logs.KeepAliveEvents(UserTimeoutCutsKeepAliveShort));
    }

    [Fact]
    public async Task Endpoint_policy_with_short_user_timeout_warns_once_not_per_connection()
    {
        var logs = new LogSink();
        await using var app = await KestrelApp.StartAsync(b =>
        {
            b.Logging.AddProvider(logs);
            b.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0,
                listen => listen.UseKeepAlivePolicy(o => o.UserTimeout = TimeSpan.FromSeconds(30)))); // < 120 s
        }, defaultEndpoint: false);

        for (var i = 0; i < 3; i++)
            Assert.Equal(new KernelSocketOptions(true, 60, 10, 6, 30_000), await LoopbackClient.ReadOnNewConnectionAsync(app.BaseAddress));
        Assert.Single(logs.KeepAliveEvents(UserTimeoutCutsKeepAliveShort));
        Assert.Single(logs.KeepAliveEvents(PolicyCreated));
    }

    [Theory]
    [InlineData("computed, equal to the span", new[] { "Idle=00:00:20", "Interval=00:00:05", "ProbeCount=4" })]
    [InlineData("explicit, equal to the span", new[] { "Idle=00:00:20", "Interval=00:00:05", "ProbeCount=4", "UserTimeout=00:00:40" })]
    [InlineData("not set", new[] { "Idle=00:00:20", "Interval=00:00:05", "ProbeCount=4", "UserTimeout=00:00:00" })]
    [InlineData("no keepalive to cut short", new[] { "Enabled=false", "UserTimeout=00:00:10" })]
    public async Task No_warning_when_the_user_timeout_does_not_cut_keepalive_short(string description, string[] section)
    {
        _ = description; // names the case in the test list
        var logs = new LogSink();
        await using var app = await KestrelApp.StartAsync(b =>
        {
            b.Logging.AddProvider(logs);
            KeepAliveSection.Add(b.Configuration, section);
            b.UseKeepAlivePolicy();
        });

        await LoopbackClient.ReadOnNewConnectionAsync(app.BaseAddress);
        Assert.Single(logs.KeepAliveEvents(PolicyCreated));
        Assert.DoesNotContain(logs.KeepAlive, e => e.Level >= LogLevel.Warning);
    }
}
