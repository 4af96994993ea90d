using System.Net;
using System.Net.Sockets;
using KeepAlive.AspNetCore.Tests.Infrastructure;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// From a thousand connections the gauge reads their states in one NETLINK_SOCK_DIAG dump, matched by addresses and
/// ports, and from the kernel's timers rather than TCP_INFO; it must see what one getsockopt(TCP_INFO) per socket sees,
/// or the dashboard would show other states than the connection view. (Probing and retransmitting need a vanished
/// peer: the fault tests compare the two readings there.) It names each connection by its socket's own addresses, kept
/// from accept, whatever a connection middleware makes of <c>RemoteEndPoint</c>.
/// </summary>
public class ConnectionStateReaderTests
{
    [Fact]
    public async Task A_dump_reads_the_same_state_as_getsockopt_for_each_connection_of_either_family_and_none_for_one_gone()
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
            using var meterFactory = new TestMeterFactory();
            var policy = DefaultPolicy.Create(meterFactory);
            KeepAliveConnection[] connections = [.. pairs.Select(p => policy.Wrap(SocketConnection.Create(p.Server)))];
            // What a PROXY protocol middleware does: the app sees the client behind the proxy; the kernel still knows the
            // socket by its own addresses, and so must the reader.
            var proxied = connections[1];
            proxied.RemoteEndPoint = new IPEndPoint(IPAddress.Parse("203.0.113.7"), 40_000);
            gone.Dispose();

            var reader = new ConnectionStateReader();
            var byGetsockopt = new ConnectionState?[connections.Length];
            var byNetlink = new ConnectionState?[connections.Length];
            reader.Read(connections, byGetsockopt, useNetlink: false);
            reader.Read(connections, byNetlink);

            Assert.True(InetDiagTcpDump.IsAvailable, "NETLINK_SOCK_DIAG is unavailable here: the comparison would be getsockopt with itself.");
            var expected = pairs.Select(p => p == gone ? (ConnectionState?)null : p == stalled ? ConnectionState.ZeroWindow : ConnectionState.Responsive);
            Assert.Equal(expected, byGetsockopt);
            Assert.Equal(expected, byNetlink);

            // And the dump itself answered, for both families in one (a failed one would have fallen back to
            // getsockopt, unseen above): the listeners' ports differ, so it asks for every local port.
            var index = new TcpConnectionIndex();
            index.Reset(connections.Length);
            for (var i = 0; i < connections.Length; i++)
            {
                if (pairs[i] != gone && TcpConnectionKey.TryCreate(connections[i].SocketLocalEndPoint, connections[i].SocketRemoteEndPoint, out var key))
                    Assert.True(index.TryAdd(key, i, out _));
            }
            var dumped = new ConnectionState?[connections.Length];
            Assert.True(InetDiagTcpDump.TryReadStates(localPort: 0, index, dumped));
            Assert.Equal(expected, dumped);
        }
        finally
        {
            pairs.ForEach(p => p.Dispose());
        }
    }

    [Fact]
    public async Task A_connection_that_ended_is_not_counted_for_a_new_one_the_kernel_gave_its_addresses_and_ports()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "NETLINK_SOCK_DIAG is Linux's.");
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(2);
        using var meterFactory = new TestMeterFactory();
        var policy = DefaultPolicy.Create(meterFactory);

        // The first connection ends with a reset (no TIME_WAIT), and the client connects again from the same port: the
        // new connection has the ended one's addresses and ports, while the ended one may still be in the list.
        var (firstClient, first) = await ConnectFromAsync(listener, port: 0);
        var clientPort = ((IPEndPoint)firstClient.LocalEndPoint!).Port;
        var ended = policy.Wrap(SocketConnection.Create(first));
        first.LingerState = new LingerOption(true, 0);
        first.Dispose();
        firstClient.Dispose();
        var (secondClient, second) = await ConnectFromAsync(listener, clientPort);
        using (secondClient)
        using (second)
        {
            var current = policy.Wrap(SocketConnection.Create(second));
            Assert.Equal(ended.SocketRemoteEndPoint, current.SocketRemoteEndPoint);

            var states = new ConnectionState?[2];
            new ConnectionStateReader().Read([ended, current], states);

            Assert.Equal([null, ConnectionState.Responsive], states);
        }
    }

    private static async Task<(Socket Client, Socket Server)> ConnectFromAsync(Socket listener, int port)
    {
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        client.Bind(new IPEndPoint(IPAddress.Loopback, port));
        var accept = listener.AcceptAsync(TestContext.Current.CancellationToken);
        await client.ConnectAsync(listener.LocalEndPoint!, TestContext.Current.CancellationToken);
        return (client, await accept);
    }

    // The server writes until the client, which never reads, has closed its window and data waits unsent. Not Eventually:
    // each round writes before it reads.
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
