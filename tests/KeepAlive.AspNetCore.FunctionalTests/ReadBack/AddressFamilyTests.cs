using System.Net;
using System.Net.Sockets;

namespace KeepAlive.AspNetCore.FunctionalTests.ReadBack;

/// <summary>The policy on IPv6 sockets: an IPv6 loopback endpoint, and the dual-stack wildcard most containers use.</summary>
public class AddressFamilyTests
{
    private static readonly KernelSocketOptions Expected = new(true, 25, 5, 3, 40_000);

    private static void Policy(KeepAliveOptions o)
    {
        o.Idle = TimeSpan.FromSeconds(25);
        o.Interval = TimeSpan.FromSeconds(5);
        o.ProbeCount = 3;
    }

    [Fact]
    public async Task IPv6_loopback_endpoint_gets_the_policy()
    {
        if (!IPv6LoopbackBinds())
            Assert.Skip("This machine has no IPv6 loopback (::1 does not bind).");

        await using var app = await KestrelApp.StartAsync(b =>
        {
            b.WebHost.UseUrls("http://[::1]:0");
            b.UseKeepAlivePolicy(Policy);
        }, KernelReadBackEndpoint.MapFamily, defaultEndpoint: false);
        using var client = LoopbackClient.Create();

        Assert.Equal(IPAddress.IPv6Loopback.ToString(), app.BaseAddress.Host.Trim('[', ']'));
        Assert.Equal(AddressFamily.InterNetworkV6, await KernelReadBackEndpoint.ReadFamilyAsync(client, app.BaseAddress));
        Assert.Equal(Expected, await LoopbackClient.ReadServerSocketAsync(client, app.BaseAddress));
    }

    [Fact]
    public async Task Wildcard_url_gets_the_policy_for_an_IPv4_client()
    {
        // http://+:port binds [::] dual-stack where IPv6 exists, so an IPv4 client arrives on an IPv6
        // socket (::ffff:127.0.0.1); the policy must not skip it for its family. Only loopback connects.
        await using var app = await KestrelApp.StartAsync(b =>
        {
            b.WebHost.UseUrls("http://+:0");
            b.UseKeepAlivePolicy(Policy);
        }, KernelReadBackEndpoint.MapFamily, defaultEndpoint: false);
        var loopback = new UriBuilder(app.BaseAddress) { Host = IPAddress.Loopback.ToString() }.Uri;
        using var client = LoopbackClient.Create();

        var family = await KernelReadBackEndpoint.ReadFamilyAsync(client, loopback);
        Assert.Equal(IPv6LoopbackBinds() ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork, family);
        Assert.Equal(Expected, await LoopbackClient.ReadServerSocketAsync(client, loopback));
    }

    private static bool IPv6LoopbackBinds()
    {
        if (!Socket.OSSupportsIPv6)
            return false;
        try
        {
            using var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 0));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
