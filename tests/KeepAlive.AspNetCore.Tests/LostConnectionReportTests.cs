using System.Net.Sockets;
using KeepAlive.AspNetCore.Tests.Infrastructure;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// When the connection's ending looks normal to its input but its output then meets the kernel's verdict (the send
/// consumed the error first, and the transport closes the socket before it fails the output), the loss is still
/// counted, once, when the connection is disposed; a normal ending is never counted.
/// </summary>
public class LostConnectionReportTests
{
    [Fact]
    public async Task A_verdict_the_output_meets_after_a_normal_looking_ending_is_counted_when_the_connection_is_disposed()
    {
        using var meterFactory = new TestMeterFactory();
        using var lost = new MetricCollector<long>(meterFactory, KeepAliveInstrumentation.MeterName, "keepalive.lost_connections");
        using var pair = await LoopbackTcpPair.ConnectAsync();
        var connection = DefaultPolicy.Create(meterFactory).Wrap(SocketConnection.Create(pair.Server));

        Abort(connection); // TCP_INFO: established, nothing outstanding
        pair.Server.Dispose(); // as the transport does before it fails the output
        Assert.True(connection.OnSendFailed(new SocketException((int)SocketError.TimedOut)));
        await connection.DisposeAsync();

        var counted = Assert.Single(lost.GetMeasurementSnapshot(), m => m.Value != 0);
        Assert.Equal("tcp_timeout", counted.Tags["error.type"]); // the socket was gone: the kind could not be read
    }

    [Fact]
    public async Task A_normal_ending_is_not_counted()
    {
        using var meterFactory = new TestMeterFactory();
        using var lost = new MetricCollector<long>(meterFactory, KeepAliveInstrumentation.MeterName, "keepalive.lost_connections");
        using var pair = await LoopbackTcpPair.ConnectAsync();
        var connection = DefaultPolicy.Create(meterFactory).Wrap(SocketConnection.Create(pair.Server));

        Abort(connection);
        Assert.False(connection.OnSendFailed(new SocketException((int)SocketError.ConnectionReset)));
        await connection.DisposeAsync();

        Assert.DoesNotContain(lost.GetMeasurementSnapshot(), m => m.Value != 0);
    }

    // As Kestrel's HTTP layer aborts when the transport completed: with no reason. DefaultConnectionContext cancels
    // ConnectionClosed on the thread pool: wait for it before the test disposes the connection (and its token source), or
    // the pool's Cancel meets a disposed source and takes the test host down.
    private static void Abort(KeepAliveConnection connection)
    {
        connection.Abort(null!);
        Assert.True(SpinWait.SpinUntil(() => connection.ConnectionClosed.IsCancellationRequested, TimeSpan.FromSeconds(5)));
    }
}
