using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace KeepAlive.AspNetCore.FunctionalTests.Faults.Bounds;

/// <summary>
/// One row of the bounds matrix: a real Kestrel under a policy, an idle event stream and a stream that writes every
/// 200 ms, whose clients vanish at the same moment. Each is measured from the vanishing until Kestrel aborts it and
/// compared with the bound the library states for that policy (<see cref="KeepAlivePolicy.Bounds"/>, the numbers of
/// its startup line): no earlier than the bound minus 0.5 s, no later than the bound plus 1 s.
/// </summary>
internal static class StatedBounds
{
    private static readonly TimeSpan Early = TimeSpan.FromSeconds(0.5), Late = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan WriteInterval = TimeSpan.FromMilliseconds(200);
    // How long a peer the policy never lets go is watched after the other one was let go.
    private static readonly TimeSpan Unbounded = TimeSpan.FromSeconds(5);

    /// <param name="configure">Sets the configuration under test (before <c>UseKeepAlivePolicy()</c>).</param>
    /// <param name="policy">The policy the streams run under: <c>default</c>, or a named one given to them as a route policy.</param>
    public static async Task MeasureAsync(Action<WebApplicationBuilder> configure, string policy = KeepAlivePolicy.DefaultName)
    {
        PrivateNetworkNamespace.Require();
        var output = TestContext.Current.TestOutputHelper;
        using var metrics = new MetricRecorder();
        var logs = new LogSink();
        var idle = new EventStreamEndpoint(path: "/idle");
        var busy = new EventStreamEndpoint(WriteInterval, path: "/busy");
        await using var app = await KestrelApp.StartAsync(b =>
        {
            b.Logging.AddProvider(logs);
            b.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
            configure(b);
            b.UseKeepAlivePolicy();
        }, a =>
        {
            a.UseKeepAliveRoutePolicies();
            foreach (var stream in new[] { idle, busy })
            {
                var route = stream.Map(a);
                if (policy != KeepAlivePolicy.DefaultName)
                    route.WithKeepAlivePolicy(policy);
            }
        });
        metrics.Port = app.BaseAddress.Port;

        // The bounds as the library states them, and its startup line saying so.
        var bounds = app.App.Services.GetRequiredService<KeepAlivePolicies>().Find(policy)!.Bounds;
        var stated = Assert.Single(logs.KeepAliveEvents("PolicyCreated"), e => (string)e.Fields["Policy"]! == policy);
        Assert.Contains(bounds.Describe(), stated.Message);
        output?.WriteLine($"stated: {stated.Message}");

        await using var idleClient = await VanishingClient.ConnectAsync(app.BaseAddress);
        await using var busyClient = await VanishingClient.ConnectAsync(app.BaseAddress);
        var idleServer = await idle.OpenAsync(idleClient);
        var busyServer = await busy.OpenAsync(busyClient);
        // Without a user timeout the kernel gives up on unacknowledged data at the first retransmission past its model of
        // tcp_retries2's time, on the connection's own backoffs: the library states the model ("or more"); this is the rest.
        var latest = bounds.UnacknowledgedData;
        if (bounds.Retries2 is not null && TcpConnectionInfo.TryRead(busyServer.Socket, out var info))
            latest = TcpKernelSettings.Read().RetransmissionGiveUpAt(TimeSpan.FromMicroseconds(info.RtoMicroseconds)) + WriteInterval;
        var idleGone = await idleClient.VanishAsync();
        var busyGone = await busyClient.VanishAsync();

        await ExpectAbortAsync("a dead idle peer", idleServer, idleGone, bounds.SilentIdlePeer, bounds.SilentIdlePeer, "tcp_keepalive_timeout", metrics, logs);
        await ExpectAbortAsync("a peer that stops acknowledging data", busyServer, busyGone, bounds.UnacknowledgedData, latest, "tcp_user_timeout", metrics, logs);
        if (bounds.SilentIdlePeer is null)
        {
            await Deadline.WatchAsync(idleServer.Aborted, Stopwatch.GetTimestamp(), Unbounded);
            Assert.False(idleServer.Aborted.IsCompleted, "The idle stream to a vanished peer was closed, though the policy states it never is.");
            Assert.Equal(TcpState.Established, idleServer.ReadTcpInfo()?.State);
        }
    }

    private static async Task ExpectAbortAsync(string what, ServerConnection server, long vanished, TimeSpan? bound, TimeSpan? latest, string cause, MetricRecorder metrics,
        LogSink logs)
    {
        if (bound is not { } expected || latest is not { } last)
            return;
        var aborted = await Deadline.WithinAsync(server.Aborted, last + Late + TimeSpan.FromSeconds(10), $"RequestAborted for {what}");
        var elapsed = Stopwatch.GetElapsedTime(vanished, aborted);
        MeasuredTime.Report($"{what}, stated {KeepAliveBounds.Format(expected)} -> RequestAborted", elapsed, last + Late);
        Assert.InRange(elapsed, expected - Early, last + Late);
        // Counted when Kestrel completes the connection, which a loaded machine can delay past the abort.
        var counted = $"{what} counted as {cause}; counted: {string.Join(", ", metrics.Of("keepalive.lost_connections").Select(m => m.ErrorType))}; " +
            $"the library logged: {string.Join(" | ", logs.KeepAlive.Where(e => e.Level >= LogLevel.Information && e.EventId.Name != "PolicyCreated").Select(e => e.Message))}";
        if (cause == "tcp_keepalive_timeout")
        {
            await Eventually.HoldsAsync(() => metrics.Of("keepalive.lost_connections").Any(m => m.ErrorType == cause), counted, TimeSpan.FromSeconds(15));
            return;
        }
        // A peer being written to: when the machine is loaded, the transport's next send can take the kernel's error
        // before its receive does, and close the socket before TCP_INFO is read: the loss is then counted as the
        // fallback timeout, or (when the receive saw only the socket closing) not at all (README, "Lost connections").
        // The bound is what this matrix proves; LostConnectionMetricsTests checks the cause of such a loss.
        await Task.Delay(TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken);
        var lost = metrics.Of("keepalive.lost_connections").Where(m => m.ErrorType != "tcp_keepalive_timeout").ToList();
        TestContext.Current.TestOutputHelper?.WriteLine(lost.Count == 0 ? $"not counted: {counted}" : $"counted: {lost[0].ErrorType}");
        Assert.All(lost, m => Assert.Contains(m.ErrorType, new[] { cause, "tcp_timeout" }));
    }
}
