using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace KeepAlive.AspNetCore.FunctionalTests.Policies;

/// <summary>
/// Live reload from an appsettings file with <c>reloadOnChange</c>, as an operator edits it on a running
/// server: new connections get a changed policy at once, open ones get it too; a bad value is logged with
/// the message startup would give, and the last good policy stays.
/// </summary>
public sealed class ReloadTests : IDisposable
{
    private const string PolicyReloaded = "PolicyReloaded", ReloadRejected = "ReloadRejected";

    private static readonly KernelSocketOptions Default = new(true, 60, 10, 6, 120_000);
    private static readonly KernelSocketOptions Streaming = new(true, 15, 5, 3, 30_000);
    // Settings(idle: "00:00:40", streamingIdle: "00:00:20"): 40 + 10 x 6 and 20 + 5 x 3.
    private static readonly KernelSocketOptions ChangedDefault = new(true, 40, 10, 6, 100_000);
    private static readonly KernelSocketOptions ChangedStreaming = new(true, 20, 5, 3, 35_000);

    private readonly SettingsFile _settings = new();
    private readonly LogSink _logs = new();

    private string SettingsPath => _settings.Path;

    [Fact]
    public async Task Changed_policy_reaches_new_and_open_connections()
    {
        await using var app = await StartAsync(Settings());
        using var openDefault = new OneConnectionClient();
        using var openStreaming = new OneConnectionClient();
        Assert.Equal(Default, await openDefault.ReadAsync(app.BaseAddress));
        Assert.Equal(Streaming, await openStreaming.ReadAsync(app.BaseAddress, "/events"));

        Write(Settings(idle: "00:00:40", streamingIdle: "00:00:20"));
        await Eventually.HoldsAsync(async () => await SocketReadBack.ReadOnNewConnectionAsync(app.BaseAddress) == ChangedDefault,
            $"a new connection reads the changed default {ChangedDefault}");
        // Logged once the open connections have it too.
        await Eventually.HoldsAsync(() => _logs.KeepAliveEvents(PolicyReloaded).Count > 0, $"{PolicyReloaded} is logged");

        // The same connections as before the change, now under the changed policies.
        Assert.Equal(ChangedDefault, await openDefault.ReadAsync(app.BaseAddress));
        Assert.Equal(ChangedStreaming, await openStreaming.ReadAsync(app.BaseAddress));
        Assert.Equal(1, openDefault.Connections);
        Assert.Equal(1, openStreaming.Connections);
        Assert.Equal(ChangedStreaming, await SocketReadBack.ReadOnNewConnectionAsync(app.BaseAddress, "/events"));

        var reloaded = _logs.KeepAliveEvents(PolicyReloaded)[0];
        Assert.Equal(LogLevel.Information, reloaded.Level);
        Assert.True((int)reloaded.Fields["OpenConnections"]! >= 2, $"Applied again to fewer than the 2 open connections: {reloaded.Message}");
        Assert.Empty(_logs.KeepAliveEvents(ReloadRejected));
    }

    [Fact]
    public async Task Changed_default_reaches_the_listening_socket_so_connections_queued_after_it_start_with_it()
    {
        // On Linux the default is set on Kestrel's listening socket and its connections inherit it without a
        // setsockopt of their own. A reload sets it there too; only the connections that may have been queued before
        // (Backlog + 1) get it one by one. The app's own CreateBoundListenSocket still creates the socket.
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Listening-socket inheritance is used on Linux only.");
        Socket? listenSocket = null;
        await using var app = await StartAsync(Settings(), b => b.WebHost.UseSockets(o =>
        {
            o.Backlog = 2;
            var create = o.CreateBoundListenSocket;
            o.CreateBoundListenSocket = endpoint => listenSocket = create(endpoint);
        }));
        Assert.NotNull(listenSocket);
        Assert.Equal(Default, KernelSocketOptions.Read(listenSocket));
        Assert.Equal(Default, await SocketReadBack.ReadOnNewConnectionAsync(app.BaseAddress));

        await ReloadAsync(Settings(idle: "00:00:40"));

        // The first 2 x (Backlog + 1) may have been queued before: they get it one by one. Past them, the
        // connections start with what the listening socket has.
        for (var i = 0; i < 8; i++)
            Assert.Equal(ChangedDefault, await SocketReadBack.ReadOnNewConnectionAsync(app.BaseAddress));
        Assert.Equal(ChangedDefault, KernelSocketOptions.Read(listenSocket));

        // A default without a user timeout, over sockets that may have the old one: switched off on both paths.
        await ReloadAsync(Settings(idle: "00:00:40", userTimeout: "00:00:00"));
        var withoutUserTimeout = ChangedDefault with { UserTimeoutMilliseconds = 0 };
        for (var i = 0; i < 8; i++)
            Assert.Equal(withoutUserTimeout, await SocketReadBack.ReadOnNewConnectionAsync(app.BaseAddress));
        Assert.Equal(withoutUserTimeout, KernelSocketOptions.Read(listenSocket));
    }

    [Fact]
    public async Task Bad_value_is_logged_as_startup_would_report_it_and_the_last_good_policy_stays()
    {
        var bad = Settings(probeCount: "0");
        var startupFailures = await StartupFailuresAsync(bad);
        await using var app = await StartAsync(Settings());
        using var open = new OneConnectionClient();
        Assert.Equal(Default, await open.ReadAsync(app.BaseAddress));

        Write(bad);
        await Eventually.HoldsAsync(() => _logs.KeepAliveEvents(ReloadRejected).Count > 0, $"{ReloadRejected} is logged");

        var rejected = _logs.KeepAliveEvents(ReloadRejected)[0];
        Assert.Equal(LogLevel.Error, rejected.Level);
        Assert.Contains("KeepAlive:ProbeCount is 0", rejected.Message, StringComparison.Ordinal);
        Assert.Equal(string.Join(Environment.NewLine, startupFailures), rejected.Fields["Failures"]);
        // Nothing changed: not for new connections, not for the open one.
        Assert.Equal(Default, await SocketReadBack.ReadOnNewConnectionAsync(app.BaseAddress));
        Assert.Equal(Default, await open.ReadAsync(app.BaseAddress));
        Assert.Empty(_logs.KeepAliveEvents(PolicyReloaded));

        // Fixed: the next good value is taken.
        await ReloadAsync(Settings(idle: "00:00:40"));
        Assert.Equal(ChangedDefault, await SocketReadBack.ReadOnNewConnectionAsync(app.BaseAddress));
        Assert.Equal(ChangedDefault, await open.ReadAsync(app.BaseAddress));
        Assert.Equal(1, open.Connections);
    }

    [Fact]
    public async Task Change_outside_the_KeepAlive_section_neither_applies_nor_logs_anything()
    {
        await using var app = await StartAsync(Settings(unrelated: "a"));

        Write(Settings(unrelated: "b"));
        await Eventually.HoldsAsync(() => app.App.Configuration["Unrelated"] == "b", "the unrelated change is read");
        // A KeepAlive change after it: once that is in force, the file provider has handled the first change
        // completely (it handles one change at a time), so whatever the first one logged is in by now.
        Write(Settings(unrelated: "c", idle: "00:00:40"));
        await Eventually.HoldsAsync(async () => await SocketReadBack.ReadOnNewConnectionAsync(app.BaseAddress) == ChangedDefault,
            $"a new connection reads the changed default {ChangedDefault}");
        await Eventually.HoldsAsync(() => _logs.KeepAliveEvents(PolicyReloaded).Count > 0, $"{PolicyReloaded} is logged for the KeepAlive change");

        // That one change, and nothing for the unrelated one.
        Assert.Single(_logs.KeepAliveEvents(PolicyReloaded));
        Assert.Empty(_logs.KeepAliveEvents(ReloadRejected));
    }

    [Fact]
    public async Task Endpoint_remapped_by_a_reload_gives_its_new_and_open_connections_the_new_policy_and_routes_keep_theirs()
    {
        await using var app = await StartAsync(Settings(streamsEndpoint: "streaming"), b =>
            b.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Kestrel:Endpoints:Streams:Url"] = "http://127.0.0.1:0" }),
            defaultEndpoint: false);
        using var open = new OneConnectionClient();
        Assert.Equal(Streaming, await open.ReadAsync(app.BaseAddress));
        // A connection a route gave its policy keeps the route's: the mapping is the endpoint's, the route overrides it.
        using var routed = new OneConnectionClient();
        Assert.Equal(Streaming, await routed.ReadAsync(app.BaseAddress, "/events"));

        await ReloadAsync(Settings(streamsEndpoint: "fast"));

        // "fast" is the Aggressive preset: 5 s, 2 s, 3 probes.
        var fast = new KernelSocketOptions(true, 5, 2, 3, 11_000);
        Assert.Equal(fast, await SocketReadBack.ReadOnNewConnectionAsync(app.BaseAddress));
        Assert.Equal(fast, await open.ReadAsync(app.BaseAddress));
        Assert.Equal(Streaming, await routed.ReadAsync(app.BaseAddress));

        // Unmapped: the endpoint's connections, open or new, are back under the default.
        await ReloadAsync(Settings());
        Assert.Equal(Default, await SocketReadBack.ReadOnNewConnectionAsync(app.BaseAddress));
        Assert.Equal(Default, await open.ReadAsync(app.BaseAddress));
        Assert.Equal(Streaming, await routed.ReadAsync(app.BaseAddress));
        Assert.Equal(1, open.Connections);
        Assert.Equal(1, routed.Connections);
    }

    [Fact]
    public async Task Endpoint_newly_mapped_by_a_reload_gives_its_open_and_new_connections_the_policy_until_unmapped()
    {
        // Streams is a Kestrel configuration endpoint that KeepAlive:Endpoints does not name at startup.
        await using var app = await StartAsync(Settings(), b =>
            b.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Kestrel:Endpoints:Streams:Url"] = "http://127.0.0.1:0" }),
            defaultEndpoint: false);
        using var open = new OneConnectionClient();
        Assert.Equal(Default, await open.ReadAsync(app.BaseAddress));

        await ReloadAsync(Settings(streamsEndpoint: "streaming"));
        Assert.Equal(Streaming, await SocketReadBack.ReadOnNewConnectionAsync(app.BaseAddress));
        Assert.Equal(Streaming, await open.ReadAsync(app.BaseAddress));

        await ReloadAsync(Settings());
        Assert.Equal(Default, await SocketReadBack.ReadOnNewConnectionAsync(app.BaseAddress));
        Assert.Equal(Default, await open.ReadAsync(app.BaseAddress));
        Assert.Equal(1, open.Connections);
        Assert.Empty(_logs.KeepAliveEvents(ReloadRejected));
    }

    [Fact]
    public async Task Configuration_endpoint_with_its_own_policy_in_code_keeps_it_unless_a_reload_maps_the_endpoint()
    {
        // The app finishes the endpoint in code (kestrel.Configure(section).Endpoint(name, ...)) with its own policy.
        // Unmapped, the endpoint keeps it; mapped by a reload, the mapping wins; unmapped again, it is back.
        await using var app = await StartAsync(Settings(), b =>
        {
            b.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Kestrel:Endpoints:Streams:Url"] = "http://127.0.0.1:0" });
            b.WebHost.ConfigureKestrel((context, k) => k.Configure(context.Configuration.GetSection("Kestrel"))
                .Endpoint("Streams", endpoint => endpoint.ListenOptions.UseKeepAlivePolicy(o => o.Idle = TimeSpan.FromSeconds(13))));
        }, defaultEndpoint: false);
        var own = new KernelSocketOptions(true, 13, 10, 6, 73_000);
        using var open = new OneConnectionClient();
        Assert.Equal(own, await open.ReadAsync(app.BaseAddress));
        Assert.Equal(own, await SocketReadBack.ReadOnNewConnectionAsync(app.BaseAddress));

        await ReloadAsync(Settings(streamsEndpoint: "streaming"));
        Assert.Equal(Streaming, await SocketReadBack.ReadOnNewConnectionAsync(app.BaseAddress));
        Assert.Equal(Streaming, await open.ReadAsync(app.BaseAddress));

        await ReloadAsync(Settings());
        Assert.Equal(own, await SocketReadBack.ReadOnNewConnectionAsync(app.BaseAddress));
        Assert.Equal(own, await open.ReadAsync(app.BaseAddress));
        Assert.Equal(1, open.Connections);
    }

    [Fact]
    public async Task Endpoint_name_that_Kestrel_lacks_fails_at_startup_and_is_rejected_on_reload()
    {
        var failure = Assert.Single(await StartupFailuresAsync(Settings(streamsEndpoint: "streaming")));
        Assert.Equal("KeepAlive:Endpoints:Streams names the Kestrel endpoint 'Streams', which is not in Kestrel:Endpoints; there are none", failure);

        await using var app = await StartAsync(Settings(streamsEndpoint: "streaming"), b =>
            b.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Kestrel:Endpoints:Streams:Url"] = "http://127.0.0.1:0" }),
            defaultEndpoint: false);
        Assert.Equal(Streaming, await SocketReadBack.ReadOnNewConnectionAsync(app.BaseAddress));

        // A typo in the endpoint's name: the mapping would quietly stop applying.
        Write(Settings(streamsEndpoint: "fast").Replace("\"Streams\":", "\"Stream\":", StringComparison.Ordinal));
        await Eventually.HoldsAsync(() => _logs.KeepAliveEvents(ReloadRejected).Count > 0, $"{ReloadRejected} is logged");
        Assert.Equal(
            "KeepAlive:Endpoints:Stream names the Kestrel endpoint 'Stream', which is not in Kestrel:Endpoints; the endpoints are Streams",
            _logs.KeepAliveEvents(ReloadRejected)[0].Fields["Failures"]);
        Assert.Equal(Streaming, await SocketReadBack.ReadOnNewConnectionAsync(app.BaseAddress));
        Assert.Empty(_logs.KeepAliveEvents(PolicyReloaded));
    }

    [Fact]
    public async Task Reload_that_drops_a_policy_code_names_is_rejected_and_the_last_good_policies_stay()
    {
        // At startup, a route or listenOptions.UseKeepAlivePolicy naming a policy that does not exist stops the app.
        // The same configuration arriving by reload is just as wrong: it must not quietly drop their connections to
        // the default policy.
        ListenOptions? streamsEndpoint = null;
        await using var app = await StartAsync(Settings(), b => b.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, 0, listen => streamsEndpoint = listen.UseKeepAlivePolicy("streaming"));
            k.Listen(IPAddress.Loopback, 0);
        }), defaultEndpoint: false);
        var streams = new Uri($"http://127.0.0.1:{Assert.IsType<IPEndPoint>(streamsEndpoint!.EndPoint).Port}");
        var plain = app.Addresses.Select(a => new Uri(a)).Single(a => a.Port != streams.Port);
        Assert.Equal(Streaming, await SocketReadBack.ReadOnNewConnectionAsync(streams));

        Write(Settings(streamingPolicy: false));
        await Eventually.HoldsAsync(() => _logs.KeepAliveEvents(ReloadRejected).Count > 0, $"{ReloadRejected} is logged");

        var rejected = _logs.KeepAliveEvents(ReloadRejected)[0];
        Assert.Contains("listenOptions.UseKeepAlivePolicy(\"streaming\") names the policy 'streaming', which is not in KeepAlive:Policies; the policies are fast", rejected.Message, StringComparison.Ordinal);
        Assert.Contains("The endpoint 'HTTP: GET /events' names the policy 'streaming'", rejected.Message, StringComparison.Ordinal);
        Assert.Equal(Streaming, await SocketReadBack.ReadOnNewConnectionAsync(streams));
        Assert.Equal(Streaming, await SocketReadBack.ReadOnNewConnectionAsync(plain, "/events"));
        Assert.Empty(_logs.KeepAliveEvents(PolicyReloaded));
    }

    [Fact]
    public async Task Open_connection_under_a_policy_set_in_code_keeps_it_across_a_reload()
    {
        // listenOptions.UseKeepAlivePolicy(o => ...) is the endpoint's own policy, fixed in code: a reload changes
        // the default and the named policies, not it. Not even when a named policy happens to be called
        // "endpoint", the name such a policy goes by in logs and metrics.
        ListenOptions? codeEndpoint = null;
        await using var app = await StartAsync(Settings(), b => b.WebHost.ConfigureKestrel(k =>
            k.Listen(IPAddress.Loopback, 0, listen => codeEndpoint = listen.UseKeepAlivePolicy(o => o.Idle = TimeSpan.FromSeconds(13)))),
            defaultEndpoint: false);
        var address = new Uri($"http://127.0.0.1:{Assert.IsType<IPEndPoint>(codeEndpoint!.EndPoint).Port}");
        var own = new KernelSocketOptions(true, 13, 10, 6, 73_000);
        using var open = new OneConnectionClient();
        Assert.Equal(own, await open.ReadAsync(address));

        await ReloadAsync(Settings(idle: "00:00:40").Replace("\"fast\":", "\"endpoint\": { \"Idle\": \"00:00:07\" }, \"fast\":", StringComparison.Ordinal));

        Assert.Equal(own, await open.ReadAsync(address));
        Assert.Equal(1, open.Connections);
        Assert.Equal(own, await SocketReadBack.ReadOnNewConnectionAsync(address));
    }

    [Fact]
    public async Task Endpoint_mapped_to_default_by_a_reload_gives_its_open_and_new_connections_the_top_level_policy()
    {
        // "default" is the reserved name of the top-level policy, wherever a policy is named: KeepAlive:Endpoints too.
        await using var app = await StartAsync(Settings(streamsEndpoint: "streaming"), b =>
            b.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Kestrel:Endpoints:Streams:Url"] = "http://127.0.0.1:0" }),
            defaultEndpoint: false);
        using var open = new OneConnectionClient();
        Assert.Equal(Streaming, await open.ReadAsync(app.BaseAddress));

        await ReloadAsync(Settings(idle: "00:00:40", streamsEndpoint: "default"));

        Assert.Equal(ChangedDefault, await open.ReadAsync(app.BaseAddress));
        Assert.Equal(ChangedDefault, await SocketReadBack.ReadOnNewConnectionAsync(app.BaseAddress));
        Assert.Equal(1, open.Connections);
        Assert.Empty(_logs.KeepAliveEvents(ReloadRejected));
    }

    [Fact]
    public async Task Reload_that_maps_an_endpoint_it_adds_to_Kestrel_Endpoints_applies_the_rest_and_warns_that_the_mapping_needs_a_restart()
    {
        // One write adds the Kestrel endpoint Extra, maps it, and changes the default. Kestrel binds Extra, but reads its
        // endpoints' callbacks at startup only: the mapping cannot reach it before a restart. The rest must not be lost.
        const string http = "\"Kestrel\": { \"Endpoints\": { \"Http\": { \"Url\": \"http://127.0.0.1:0\" } } }, \"Unrelated\"";
        const string httpAndExtra = "\"Kestrel\": { \"Endpoints\": { \"Http\": { \"Url\": \"http://127.0.0.1:0\" }, \"Extra\": { \"Url\": \"http://127.0.0.1:0\" } } }, \"Unrelated\"";
        await using var app = await StartAsync(Settings().Replace("\"Unrelated\"", http, StringComparison.Ordinal), defaultEndpoint: false);
        var first = Assert.Single(app.Addresses);
        using var open = new OneConnectionClient();
        Assert.Equal(Default, await open.ReadAsync(app.BaseAddress));

        await ReloadAsync(Settings(idle: "00:00:40", streamsEndpoint: "streaming")
            .Replace("\"Streams\":", "\"Extra\":", StringComparison.Ordinal)
            .Replace("\"Unrelated\"", httpAndExtra, StringComparison.Ordinal));

        // The rest of the change is in force, on the open connection too.
        Assert.Equal(ChangedDefault, await open.ReadAsync(app.BaseAddress));
        Assert.Equal(1, open.Connections);
        Assert.Empty(_logs.KeepAliveEvents(ReloadRejected));
        var warning = Assert.Single(_logs.KeepAliveEvents("EndpointAddedAtRunTime"));
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.StartsWith("KeepAlive:Endpoints:Extra maps the Kestrel endpoint 'Extra', added to Kestrel:Endpoints after startup: " +
            "Kestrel reads its endpoints at startup only", warning.Message, StringComparison.Ordinal);
        Assert.Contains("takes effect after a restart", warning.Message, StringComparison.Ordinal);

        // Extra itself, bound by Kestrel, has the (changed) default until then, as the warning says.
        await Eventually.HoldsAsync(() => app.Addresses.Count == 2, "Kestrel binds Extra");
        var extra = new Uri(app.Addresses.Single(a => a != first));
        Assert.Equal(ChangedDefault, await SocketReadBack.ReadOnNewConnectionAsync(extra));
    }

    public void Dispose() => _settings.Dispose();

    /// <summary>
    /// The settings file: a default and a "streaming" policy (unless left out), a "fast" one (the Aggressive preset),
    /// optionally the Streams endpoint's mapping, and a key outside the KeepAlive section.
    /// </summary>
    private static string Settings(string idle = "00:01:00", string probeCount = "6", string streamingIdle = "00:00:15", string unrelated = "a", string? streamsEndpoint = null, bool streamingPolicy = true,
        string? userTimeout = null)
    {
        var streaming = streamingPolicy ? $$"""
            "streaming": { "Idle": "{{streamingIdle}}", "Interval": "00:00:05", "ProbeCount": 3 },
            """ : "";
        var endpoints = streamsEndpoint is null ? "" : $", \"Endpoints\": {{ \"Streams\": \"{streamsEndpoint}\" }}";
        var userTimeoutSetting = userTimeout is null ? "" : $", \"UserTimeout\": \"{userTimeout}\"";
        return $$"""
            {
              "Unrelated": "{{unrelated}}",
              "KeepAlive": {
                "Idle": "{{idle}}", "Interval": "00:00:10", "ProbeCount": {{probeCount}}{{userTimeoutSetting}},
                "Policies": {
                  {{streaming}}
                  "fast": { "Preset": "Aggressive" }
                }{{endpoints}}
              }
            }
            """;
    }

    private Task ReloadAsync(string json) => _settings.ReloadAsync(json, _logs);

    private void Write(string json) => _settings.Write(json);

    // The app under reload: the settings file, the route "/events" under "streaming".
    private Task<KestrelApp> StartAsync(string json, Action<WebApplicationBuilder>? configure = null, bool defaultEndpoint = true)
    {
        Write(json);
        return KestrelApp.StartAsync(
            b =>
            {
                b.Logging.AddProvider(_logs);
                b.Configuration.AddJsonFile(SettingsPath, optional: false, reloadOnChange: true);
                configure?.Invoke(b);
                b.UseKeepAlivePolicy();
            },
            a =>
            {
                a.UseKeepAliveRoutePolicies();
                a.MapGet("/events", KernelReadBackEndpoint.WriteSocketOptionsAsync).WithKeepAlivePolicy("streaming");
            },
            defaultEndpoint);
    }

    // What an app started with these settings fails with.
    private static async Task<IEnumerable<string>> StartupFailuresAsync(string json)
    {
        var builder = KestrelApp.CreateBuilder();
        IssueConfiguration.Add(builder.Configuration, json);
        builder.UseKeepAlivePolicy();
        await using var app = builder.Build();
        var failure = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync(TestContext.Current.CancellationToken));
        return failure.Failures;
    }
}
