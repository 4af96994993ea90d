using System.Diagnostics;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;

namespace KeepAlive.AspNetCore.FunctionalTests.Sample;

/// <summary>
/// The sample's SignalR hub at <c>/hub</c> through the real .NET client over WebSockets, with the hub's timers set from
/// the <c>SignalR</c> section by environment variables: the server's pings come at <c>SignalR__KeepAliveInterval</c> (a
/// client whose server timeout is shorter than SignalR's default interval stays connected), and a client silent for
/// <c>SignalR__ClientTimeoutInterval</c> is dropped.
/// </summary>
public class SignalRHubTests
{
    [Fact(Timeout = 60_000)]
    public async Task The_client_is_echoed_and_kept_connected_by_the_configured_server_pings()
    {
        await using var sample = await SampleProcess.StartAsync(new Dictionary<string, string> { ["SignalR__KeepAliveInterval"] = "00:00:01" });
        await using var connection = Connect(sample, serverTimeout: TimeSpan.FromSeconds(3), keepAlive: TimeSpan.FromSeconds(1));
        var closed = Closed(connection);
        await connection.StartAsync(TestContext.Current.CancellationToken);

        Assert.Equal("hi", await connection.InvokeAsync<string>("Echo", "hi", TestContext.Current.CancellationToken));
        // Twice the client's 3 s server timeout with nothing but the server's pings (SignalR's default interval is 15 s).
        await Task.Delay(TimeSpan.FromSeconds(6), TestContext.Current.CancellationToken);
        if (closed.IsCompleted)
            Assert.Fail($"The client closed within 6 s: {(await closed)?.Message ?? "no error"}");
        Assert.Equal(HubConnectionState.Connected, connection.State);
        Assert.Equal("again", await connection.InvokeAsync<string>("Echo", "again", TestContext.Current.CancellationToken));
    }

    [Fact(Timeout = 60_000)]
    public async Task A_client_silent_past_the_configured_ClientTimeoutInterval_is_dropped()
    {
        await using var sample = await SampleProcess.StartAsync(new Dictionary<string, string> { ["SignalR__ClientTimeoutInterval"] = "00:00:02" });
        // A client that pings every 30 s: silent, to a server that allows 2 s (SignalR's default allows 30 s).
        await using var connection = Connect(sample, serverTimeout: TimeSpan.FromSeconds(60), keepAlive: TimeSpan.FromSeconds(30));
        var closed = Closed(connection);
        await connection.StartAsync(TestContext.Current.CancellationToken);
        var started = Stopwatch.GetTimestamp();

        await closed.WaitAsync(TimeSpan.FromSeconds(15), TestContext.Current.CancellationToken);
        var after = Stopwatch.GetElapsedTime(started).TotalSeconds;
        TestContext.Current.TestOutputHelper?.WriteLine($"dropped {after:F2} s after the connection started");
        Assert.InRange(after, 1.5, 6);
    }

    private static HubConnection Connect(SampleProcess sample, TimeSpan serverTimeout, TimeSpan keepAlive)
    {
        var connection = new HubConnectionBuilder()
            .WithUrl(new Uri(sample.BaseAddress, "/hub"), HttpTransportType.WebSockets, options => options.SkipNegotiation = true)
            .Build();
        connection.ServerTimeout = serverTimeout;
        connection.KeepAliveInterval = keepAlive;
        return connection;
    }

    private static Task<Exception?> Closed(HubConnection connection)
    {
        var closed = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Closed += error =>
        {
            closed.TrySetResult(error);
            return Task.CompletedTask;
        };
        return closed.Task;
    }
}
