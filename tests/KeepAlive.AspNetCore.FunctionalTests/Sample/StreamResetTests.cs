using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace KeepAlive.AspNetCore.FunctionalTests.Sample;

/// <summary>
/// The sample's <c>/stream</c> after its clients reset the download with data unread (as curl does when cancelled):
/// every stream ends and the server's CPU is back to idle. After such a reset Kestrel completes further writes at once
/// as no-ops and <c>RequestAborted</c> may never fire, so a loop on <c>RequestAborted</c> alone spins a core per stream.
/// </summary>
public partial class StreamResetTests
{
    private const int Clients = 5;
    // USER_HZ: /proc/PID/stat counts CPU time in these on Linux (sysconf(_SC_CLK_TCK), 100 on every mainline build).
    private const double ClockTicksPerSecond = 100;

    [Fact(Timeout = 60_000)]
    public async Task Five_reset_downloads_end_and_leave_the_server_idle_within_a_second()
    {
        var output = TestContext.Current.TestOutputHelper;
        await using var sample = await SampleProcess.StartAsync(new Dictionary<string, string>());

        var clients = new List<Socket>();
        try
        {
            for (var i = 0; i < Clients; i++)
                clients.Add(await StartDownloadAsync(sample.BaseAddress));
            // Unread for a moment: the server's send buffer fills and its writes wait, as for a cancelled curl.
            await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);
        }
        finally
        {
            // Reset with data unread: SO_LINGER 0 makes close send RST and discard the receive queue.
            foreach (var client in clients)
            {
                client.LingerState = new LingerOption(true, 0);
                client.Dispose();
            }
        }
        var reset = Stopwatch.GetTimestamp();

        // Each stream's end is logged by the sample ("Stream to ... ended after ..."). Not Eventually: the second counts
        // from the resets, and the CPU measurement below starts 1 s after them.
        while (StreamEnds(sample) < Clients && Stopwatch.GetElapsedTime(reset) < TimeSpan.FromSeconds(1))
            await Task.Delay(50, TestContext.Current.CancellationToken);
        var ended = StreamEnds(sample);
        output?.WriteLine($"{ended} of {Clients} streams ended {Stopwatch.GetElapsedTime(reset).TotalMilliseconds:F0} ms after the resets");

        // Then one second of the server's CPU, from 1 s after the resets: an idle server takes next to none; one spinning
        // no-op write loop takes a whole core.
        var wait = TimeSpan.FromSeconds(1) - Stopwatch.GetElapsedTime(reset);
        if (wait > TimeSpan.Zero)
            await Task.Delay(wait, TestContext.Current.CancellationToken);
        var before = CpuSeconds(sample.Id);
        var measuredFrom = Stopwatch.GetTimestamp();
        await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);
        var cpu = (CpuSeconds(sample.Id) - before) / Stopwatch.GetElapsedTime(measuredFrom).TotalSeconds;
        output?.WriteLine($"server CPU from 1 s to 2 s after the resets: {cpu:P0} of one core");

        Assert.True(ended == Clients, $"{ended} of {Clients} reset streams ended within 1 s. The sample wrote:\n{sample.Output}");
        Assert.True(cpu < 0.15, $"The server used {cpu:P0} of a core from 1 s to 2 s after {Clients} clients reset their /stream downloads: a stream still writes.");
    }

    // Asks for /stream and reads a little of it (64 KiB): the server is writing, and much more is in flight unread.
    private static async Task<Socket> StartDownloadAsync(Uri server)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Parse(server.Host), server.Port), TestContext.Current.CancellationToken);
            await socket.SendAsync(Encoding.ASCII.GetBytes("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"), TestContext.Current.CancellationToken);
            var buffer = new byte[16 * 1024];
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            for (var read = 0; read < 64 * 1024;)
            {
                var n = await socket.ReceiveAsync(buffer, timeout.Token);
                Assert.True(n > 0, "The sample closed /stream before the client reset it.");
                read += n;
            }
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static int StreamEnds(SampleProcess sample) => StreamEnded().Matches(sample.Output).Count;

    // utime + stime: fields 14 and 15 of /proc/PID/stat, counted after the command name's closing parenthesis.
    private static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / ClockTicksPerSecond;
    }

    [GeneratedRegex(@"Stream to \S+ ended after")]
    private static partial Regex StreamEnded();
}
