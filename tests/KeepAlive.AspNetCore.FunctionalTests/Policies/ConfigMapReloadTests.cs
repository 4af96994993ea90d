using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.FileProviders;

namespace KeepAlive.AspNetCore.FunctionalTests.Policies;

/// <summary>
/// Live reload where Kubernetes mounts the configuration: a file behind symbolic links the kubelet swaps. .NET's default
/// file watcher never sees such a swap, and the library says so at startup, naming the file and the fix; with the
/// polling watcher (DOTNET_USE_POLLING_FILE_WATCHER=true) a swap reaches new and open connections, and a version that does
/// not parse (truncated JSON) leaves the last good policies in force.
/// </summary>
public sealed class ConfigMapReloadTests : IDisposable
{
    private const string NotWatched = "ConfigurationFileNotWatched";
    private readonly ConfigMapMount _mount = new();

    [Fact]
    public async Task A_configuration_file_behind_a_link_under_the_default_watcher_is_warned_of_once_with_the_fix()
    {
        _mount.Publish(Settings("00:00:20"));
        var logs = new LogSink();
        await using (await StartAsync(logs, polling: false))
        {
            var warning = Assert.Single(logs.KeepAliveEvents(NotWatched));
            Assert.Equal(LogLevel.Warning, warning.Level);
            Assert.Equal(_mount.FilePath, warning.Fields["Path"]);
            Assert.Contains("DOTNET_USE_POLLING_FILE_WATCHER=true", warning.Message);
        }

        var polled = new LogSink();
        await using (await StartAsync(polled, polling: true))
            Assert.Empty(polled.KeepAliveEvents(NotWatched));
    }

    [Fact]
    public async Task With_the_polling_watcher_a_swap_reaches_open_connections_and_truncated_json_keeps_the_last_good_policies()
    {
        _mount.Publish(Settings("00:00:20"));
        var logs = new LogSink();
        await using var app = await StartAsync(logs, polling: true);
        // One connection, kept open across the swaps.
        using var client = LoopbackClient.Create(h => h.MaxConnectionsPerServer = 1);
        Assert.Equal(20, (await LoopbackClient.ReadServerSocketAsync(client, app.BaseAddress)).IdleSeconds);

        var reloads = logs.KeepAliveEvents("PolicyReloaded").Count;
        _mount.Publish(Settings("00:00:25"));
        await Eventually.HoldsAsync(() => logs.KeepAliveEvents("PolicyReloaded").Count > reloads, "the swap applied (the poller looks every 4 s)", TimeSpan.FromSeconds(20));
        Assert.Equal(25, (await LoopbackClient.ReadServerSocketAsync(client, app.BaseAddress)).IdleSeconds);

        // A version cut off mid-write: the last good policies stay, on the open connection and for new ones.
        _mount.Publish(Settings("00:00:30")[..40]);
        await Task.Delay(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(25, (await LoopbackClient.ReadServerSocketAsync(client, app.BaseAddress)).IdleSeconds);
        Assert.Equal(25, (await LoopbackClient.ReadOnNewConnectionAsync(app.BaseAddress)).IdleSeconds);
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join(Environment.NewLine, logs.KeepAlive.Select(e => $"{e.Level} {e.EventId.Name}: {e.Message}")));
    }

    public void Dispose() => _mount.Dispose();

    private static string Settings(string idle) => $$"""{ "KeepAlive": { "Idle": "{{idle}}", "Interval": "00:00:05", "ProbeCount": 4 } }""";

    private Task<KestrelApp> StartAsync(LogSink logs, bool polling) =>
        KestrelApp.StartAsync(b =>
        {
            b.Logging.AddProvider(logs);
            // What DOTNET_USE_POLLING_FILE_WATCHER=true sets on the host's file provider.
            var files = new PhysicalFileProvider(_mount.Root) { UsePollingFileWatcher = polling, UseActivePolling = polling };
            b.Configuration.AddJsonFile(files, ConfigMapMount.FileName, optional: false, reloadOnChange: true);
            b.UseKeepAlivePolicy();
        });
}
