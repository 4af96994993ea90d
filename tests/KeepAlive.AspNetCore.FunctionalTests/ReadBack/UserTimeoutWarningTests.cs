namespace KeepAlive.AspNetCore.FunctionalTests.ReadBack;

/// <summary>
/// A user timeout apart from <c>Idle + Interval x ProbeCount</c> changes how long a dead idle peer is held (Linux then
/// ignores ProbeCount): the operator is told once per policy, under the key that sets it, what will happen and the fix;
/// and again only when a reload changes that policy.
/// </summary>
public sealed class UserTimeoutWarningTests : IDisposable
{
    private const string Shorter = "UserTimeoutCutsKeepAliveShort", Longer = "UserTimeoutHoldsIdlePeerLonger";
    private const string PolicyCreated = "PolicyCreated";

    private readonly SettingsFile _settings = new();
    private readonly LogSink _logs = new();

    [Fact]
    public async Task A_user_timeout_longer_than_the_keepalive_span_says_how_long_a_dead_idle_peer_is_held()
    {
        await using var app = await StartAsync(Settings(topUserTimeout: "00:02:00"));

        var warning = Assert.Single(_logs.KeepAliveEvents(Longer));
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Equal("KeepAlive:UserTimeout", warning.Fields["Key"]);
        Assert.Equal("default", warning.Fields["Policy"]);
        Assert.Equal("2 min", warning.Fields["UserTimeout"]);
        Assert.Equal("40 s", warning.Fields["KeepAliveSpan"]); // 20 s + 5 s x 4
        // Probes every 5 s after 20 s until the first one at least 2 min after the last sign of life: 20 of them.
        Assert.Equal("2 min", warning.Fields["IdleBound"]);
        Assert.Equal(20, warning.Fields["Probes"]);
        // The fact, under the key; what to do about it is docs/logging.md's.
        Assert.Contains("a dead idle peer is held 2 min (20 probes), not 40 s (4 probes)", warning.Message);
        // And the kernel has what the warning describes.
        Assert.Equal(new KernelSocketOptions(true, 20, 5, 4, 120_000), await LoopbackClient.ReadOnNewConnectionAsync(app.BaseAddress));
        Assert.Empty(_logs.KeepAliveEvents(Shorter));
    }

    [Fact]
    public async Task A_named_policy_is_warned_of_under_its_own_key_and_a_preset_keeps_its_own_user_timeout()
    {
        // The top level pins 2 min for its own span (40 s: a longer one, warned of); "fast" is Aggressive, whose user
        // timeout is its own 5 s + 2 s x 3 whatever the top level says; "streaming" sets one longer than its span.
        await using var app = await StartAsync(Settings(topUserTimeout: "00:02:00", streamingUserTimeout: "00:01:00"));

        var warnings = _logs.KeepAliveEvents(Longer);
        Assert.Equal(["KeepAlive:Policies:streaming:UserTimeout", "KeepAlive:UserTimeout"], warnings.Select(w => (string)w.Fields["Key"]!).Order());
        var streaming = Assert.Single(warnings, w => (string)w.Fields["Policy"]! == "streaming");
        Assert.Equal("1 min", streaming.Fields["UserTimeout"]);
        Assert.Equal("30 s", streaming.Fields["KeepAliveSpan"]); // 15 s + 5 s x 3
        Assert.Equal("1 min", streaming.Fields["IdleBound"]);

        var fast = Assert.Single(_logs.KeepAliveEvents(PolicyCreated), e => (string)e.Fields["Policy"]! == "fast");
        Assert.Equal("00:00:11 (derived)", fast.Fields["UserTimeout"]);
        Assert.StartsWith("a dead idle peer is let go 11 s after its last sign of life (3 unanswered probes); a peer that stops acknowledging data 11 s", (string)fast.Fields["Bounds"]!);
    }

    [Fact]
    public async Task A_reload_states_and_warns_of_the_policies_it_changes_and_only_those()
    {
        await using var app = await StartAsync(Settings(streamingUserTimeout: "00:01:00"));
        Assert.Single(_logs.KeepAliveEvents(Longer));
        Assert.Equal(3, _logs.KeepAliveEvents(PolicyCreated).Count); // default, streaming, fast

        // The top level changes; streaming and fast do not: only the default is stated again, nothing warned again.
        await ReloadAsync(Settings(idle: "00:00:25", streamingUserTimeout: "00:01:00"));
        Assert.Equal(["default", "default", "fast", "streaming"], PolicyNames(PolicyCreated));
        Assert.Single(_logs.KeepAliveEvents(Longer));

        // Streaming's user timeout changes: it is stated and warned of once more.
        await ReloadAsync(Settings(idle: "00:00:25", streamingUserTimeout: "00:01:30"));
        Assert.Equal(["default", "default", "fast", "streaming", "streaming"], PolicyNames(PolicyCreated));
        Assert.Equal(["1 min", "1 min 30 s"], _logs.KeepAliveEvents(Longer).Select(w => (string)w.Fields["UserTimeout"]!));

        // A change elsewhere in the configuration states nothing again.
        Write(Settings(idle: "00:00:25", streamingUserTimeout: "00:01:30", unrelated: "changed"));
        await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);
        Assert.Equal(5, _logs.KeepAliveEvents(PolicyCreated).Count);
        Assert.Equal(2, _logs.KeepAliveEvents(Longer).Count);
    }

    public void Dispose() => _settings.Dispose();

    private List<string> PolicyNames(string eventName) =>
        [.. _logs.KeepAliveEvents(eventName).Select(e => (string)e.Fields["Policy"]!).Order()];

    private static string Settings(string idle = "00:00:20", string? topUserTimeout = null, string? streamingUserTimeout = null, string unrelated = "") =>
        $$"""
        {
          "Unrelated": "{{unrelated}}",
          "KeepAlive": {
            "Idle": "{{idle}}", "Interval": "00:00:05", "ProbeCount": 4{{(topUserTimeout is null ? "" : $", \"UserTimeout\": \"{topUserTimeout}\"")}},
            "Policies": {
              "streaming": { "Idle": "00:00:15", "Interval": "00:00:05", "ProbeCount": 3{{(streamingUserTimeout is null ? "" : $", \"UserTimeout\": \"{streamingUserTimeout}\"")}} },
              "fast": { "Preset": "Aggressive" }
            }
          }
        }
        """;

    private Task<KestrelApp> StartAsync(string json)
    {
        Write(json);
        return KestrelApp.StartAsync(b =>
        {
            b.Logging.AddProvider(_logs);
            b.Configuration.AddJsonFile(_settings.Path, optional: false, reloadOnChange: true);
            b.UseKeepAlivePolicy();
        });
    }

    private Task ReloadAsync(string json) => _settings.ReloadAsync(json, _logs);

    private void Write(string json) => _settings.Write(json);
}
