using System.Net;
using System.Net.Sockets;
using KeepAlive.AspNetCore.Tests.Infrastructure;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// The gauge reads TCP_INFO of every connection in NETLINK_SOCK_DIAG dumps, matched by addresses and ports; it must
/// see what one getsockopt per socket sees, or the dashboard would show other states than the connection view.
/// </summary>
public class TcpInfoBatchReaderTests
{
    [Fact]
    public async Task A_dump_reads_the_same_TCP_INFO_as_getsockopt_for_each_connection_and_nothing_for_one_gone()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "TCP_INFO and NETLINK_SOCK_DIAG are Linux's.");
        var pairs = new List<LoopbackTcpPair>();
        try
        {
            for (var i = 0; i < 3; i++)
                pairs.Add(await LoopbackTcpPair.ConnectAsync());
            if (Socket.OSSupportsIPv6)
                pairs.Add(await LoopbackTcpPair.ConnectAsync(IPAddress.IPv6Loopback));
            // What Kestrel accepts on [::] from an IPv4 client: an IPv6 socket with IPv4-mapped addresses.
            var dualStack = await DualStackPairAsync();
            pairs.Add(dualStack);
            var stalled = await LoopbackTcpPair.ConnectAsync();
            var gone = await LoopbackTcpPair.ConnectAsync();
            pairs.AddRange([stalled, gone]);
            await StallAsync(stalled);
            gone.Dispose();

            Socket[] sockets = [.. pairs.Select(p => p.Server)];
            var reader = new TcpInfoBatchReader();
            var byGetsockopt = new TcpConnectionInfo[sockets.Length];
            var byNetlink = new TcpConnectionInfo[sockets.Length];
            reader.Read(sockets, byGetsockopt, useNetlink: false);
            reader.Read(sockets, byNetlink);

            Assert.True(InetDiagTcpDump.IsAvailable, "NETLINK_SOCK_DIAG is unavailable here: the comparison would be getsockopt with itself.");
            for (var i = 0; i < sockets.Length; i++)
            {
                var (expected, actual) = (byGetsockopt[i], byNetlink[i]);
                if (sockets[i] == gone.Server)
                {
                    Assert.Equal(0, actual.State);
                    continue;
                }
                Assert.Equal(TcpConnectionInfo.Established, actual.State);
                Assert.Equal(ConnectionStateClassifier.Of(expected), ConnectionStateClassifier.Of(actual));
                // The counters and the window as they were; the clocks moved on by the time between the two reads.
                Assert.Equal(expected with { LastDataReceivedMilliseconds = 0, LastAckReceivedMilliseconds = 0 },
                    actual with { LastDataReceivedMilliseconds = 0, LastAckReceivedMilliseconds = 0 });
                Assert.InRange(actual.LastAckReceivedMilliseconds - expected.LastAckReceivedMilliseconds, 0u, 1_000u);
                Assert.InRange(actual.LastDataReceivedMilliseconds - expected.LastDataReceivedMilliseconds, 0u, 1_000u);
            }
            // And the dump itself answered (a failed one would have fallen back to getsockopt, unseen above).
            var indexes = new Dictionary<TcpConnectionKey, int>();
            for (var i = 0; i < sockets.Length; i++)
            {
                if (sockets[i] != gone.Server && sockets[i].AddressFamily == AddressFamily.InterNetwork && TcpConnectionKey.TryCreate(sockets[i], out var key))
                    indexes.Add(key, i);
            }
            var dumped = new TcpConnectionInfo[sockets.Length];
            Assert.True(InetDiagTcpDump.TryDump(ipv6: false, localPort: 0, indexes, dumped));
            Assert.All(indexes.Values, i => Assert.Equal(TcpConnectionInfo.Established, dumped[i].State));

            var stalledInfo = byNetlink[pairs.IndexOf(stalled)];
            Assert.Equal(ConnectionState.ZeroWindow, ConnectionStateClassifier.Of(stalledInfo));
            Assert.True(stalledInfo.NotSentBytes > 0);
        }
        finally
        {
            pairs.ForEach(p => p.Dispose());
        }
    }

    // The server writes until the client, which never reads, has closed its window and data waits unsent.
    private static async Task StallAsync(LoopbackTcpPair pair)
    {
        pair.Server.Blocking = false;
        var chunk = new byte[64 * 1024];
        var info = default(TcpConnectionInfo);
        for (var waited = 0; !info.WindowClosedWithDataWaiting; waited += 20)
        {
            Assert.True(waited < 10_000, $"The window did not close with data waiting within 10 s: {info}.");
            while (pair.Server.Send(chunk, SocketFlags.None, out var error) > 0 && error == SocketError.Success)
            {
            }
            await Task.Delay(20, TestContext.Current.CancellationToken);
            TcpConnectionInfo.TryRead(pair.Server, out info);
        }
    }

    private static async Task<LoopbackTcpPair> DualStackPairAsync()
    {
        if (!Socket.OSSupportsIPv6)
            return await LoopbackTcpPair.ConnectAsync();
        using var listener = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
        listener.Bind(new IPEndPoint(IPAddress.IPv6Any, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var accept = listener.AcceptAsync(TestContext.Current.CancellationToken);
        await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndPoint!).Port, TestContext.Current.CancellationToken);
        return LoopbackTcpPair.Of(client, await accept);
    }
}
