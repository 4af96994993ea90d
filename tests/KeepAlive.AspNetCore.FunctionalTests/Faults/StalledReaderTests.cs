using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KeepAlive.AspNetCore.FunctionalTests.Faults;

/// <summary>
/// The third kind of death: a client that is alive (its kernel answers) but has stopped reading a response the
/// server writes as fast as it can (a frozen tab, a stuck consumer). Its receive window closes, the server's writes
/// wait, keepalive never fires (data is waiting), and since Linux 5.11 the user timeout ends it: counted once as
/// <c>zero_window</c>, one log line, no stack trace. Without a user timeout TCP keeps it for ever.
/// </summary>
public class StalledReaderTests
{
    private static readonly TimeSpan Early = TimeSpan.FromSeconds(0.5), Late = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task A_client_that_stops_reading_is_let_go_the_user_timeout_after_its_window_closed()
    {
        PrivateNetworkNamespace.Require();
        using var metrics = new MetricRecorder();
        var logs = LogSink.Counting();
        var stream = new FloodEndpoint();
        await using var app = await StartAsync(logs, stream, userTimeout: "00:00:03");
        metrics.Port = app.BaseAddress.Port;
        var bound = app.App.Services.GetRequiredService<KeepAlivePolicies>().Default.Bounds.StalledReader!.Value;

        using var client = await StallingClient.ConnectAsync(app.BaseAddress);
        var server = await Deadline.WithinAsync(stream.Opened, TimeSpan.FromSeconds(5), "The stream's request reaching the app");
        var windowClosed = await WhenWindowClosedAsync(server);

        var aborted = await Deadline.WithinAsync(server.Aborted, bound + Late + TimeSpan.FromSeconds(10), "RequestAborted after the client stopped reading");
        var elapsed = Stopwatch.GetElapsedTime(windowClosed, aborted);
        MeasuredTime.Report("client stopped reading: window closed -> RequestAborted", elapsed, bound + Late);
        Assert.InRange(elapsed, bound - Early, bound + Late);

        var lost = await metrics.WaitForAsync("keepalive.lost_connections", 1, TimeSpan.FromSeconds(5));
        await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken); // nothing more comes
        Assert.Equal("tcp_zero_window", Assert.Single(metrics.Of("keepalive.lost_connections")).ErrorType);
        var silence = Assert.Single(metrics.Of("keepalive.lost_connection.silence"));
        Assert.True(silence.Value < bound.TotalSeconds, $"The client kept answering window probes; its last sign of life was {silence.Value} s before.");
        Assert.Equal(1, logs.ConnectionLost);
        Assert.True(logs.KestrelExceptions == 0, $"Logged with a stack trace: {logs.FirstKestrelException}");
    }

    [Fact]
    public async Task Without_a_user_timeout_a_client_that_stops_reading_is_held()
    {
        PrivateNetworkNamespace.Require();
        var logs = LogSink.Counting();
        var stream = new FloodEndpoint();
        await using var app = await StartAsync(logs, stream, userTimeout: "00:00:00");
        Assert.Null(app.App.Services.GetRequiredService<KeepAlivePolicies>().Default.Bounds.StalledReader);

        using var client = await StallingClient.ConnectAsync(app.BaseAddress);
        var server = await Deadline.WithinAsync(stream.Opened, TimeSpan.FromSeconds(5), "The stream's request reaching the app");
        var windowClosed = await WhenWindowClosedAsync(server);

        await Deadline.WatchAsync(server.Aborted, windowClosed, TimeSpan.FromSeconds(3 + 10));
        Assert.False(server.Aborted.IsCompleted, "A stalled reader was let go without a user timeout.");
        Assert.True(TcpConnectionInfo.TryRead(server.Socket, out var info) && info.State == TcpConnectionInfo.Established && info.WindowClosedWithDataWaiting,
            $"Expected the connection established with its window closed: {info}");
        Assert.Equal(0, logs.ConnectionLost);
    }

    [Fact]
    public async Task A_client_that_stops_reading_and_Kestrel_ends_for_its_minimum_data_rate_is_counted_as_app_zero_window()
    {
        PrivateNetworkNamespace.Require();
        using var metrics = new MetricRecorder();
        var logs = LogSink.Counting();
        var stream = new FloodEndpoint();
        // Kestrel's minimum response data rate (240 B/s after 5 s by default) made strict: it notices the stalled reader
        // within seconds, long before the policy's 2 min user timeout.
        await using var app = await StartAsync(logs, stream, userTimeout: "00:02:00", b =>
            b.WebHost.ConfigureKestrel(k => k.Limits.MinResponseDataRate = new MinDataRate(bytesPerSecond: 1_000_000, gracePeriod: TimeSpan.FromSeconds(2))));
        metrics.Port = app.BaseAddress.Port;

        using var client = await StallingClient.ConnectAsync(app.BaseAddress);
        var server = await Deadline.WithinAsync(stream.Opened, TimeSpan.FromSeconds(5), "The stream's request reaching the app");
        await WhenWindowClosedAsync(server);
        var info = server.ReadTcpInfo();
        await Deadline.WithinAsync(server.Aborted, TimeSpan.FromSeconds(15), "Kestrel ending the stalled reader's response");

        try
        {
            await metrics.WaitForAsync("keepalive.lost_connections", 1, TimeSpan.FromSeconds(10));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Once Kestrel's heartbeat is hot, tiered PGO inlines TimeoutControl out of the abort's stack, which is why the
            // reason, not the stack, tells this abort; run with DOTNET_TC_CallCountThreshold=2 DOTNET_TC_CallCountingDelayMs=0
            // to have that from the start.
            Assert.Fail($"{ex.Message} The server's socket before Kestrel's abort: {info?.ToString() ?? "closed"}; {logs.ConnectionLost} ConnectionLost lines.");
        }
        await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken); // nothing more comes
        Assert.Equal("app_zero_window", Assert.Single(metrics.Of("keepalive.lost_connections")).ErrorType);
        Assert.Equal(1, logs.ConnectionLost);
    }

    private static Task<KestrelApp> StartAsync(LogSink logs, FloodEndpoint stream, string userTimeout, Action<WebApplicationBuilder>? configure = null) =>
        KestrelApp.StartAsync(logs, b =>
        {
            configure?.Invoke(b);
            b.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["KeepAlive:Idle"] = "00:00:01",
                ["KeepAlive:Interval"] = "00:00:01",
                ["KeepAlive:ProbeCount"] = "2",
                ["KeepAlive:UserTimeout"] = userTimeout,
            });
            b.UseKeepAlivePolicy();
        }, stream.MapTo);

    // The kernel counts, it does not notify: bounded polling of the server's TCP_INFO until the client's window is closed
    // with data waiting. The timestamp is taken right after the read that saw it, as the bound is measured from it.
    private static async Task<long> WhenWindowClosedAsync(ServerConnection server)
    {
        TcpConnectionInfo info = default;
        return (await Eventually.ReadsAsync(
            () => Task.FromResult(TcpConnectionInfo.TryRead(server.Socket, out info) && info.WindowClosedWithDataWaiting ? Stopwatch.GetTimestamp() : (long?)null),
            closedAt => closedAt is not null, "the client's window closing", TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(10),
            _ => $"{info}"))!.Value;
    }
}
