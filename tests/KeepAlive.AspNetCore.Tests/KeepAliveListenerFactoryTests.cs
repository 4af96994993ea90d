using System.Net;
using System.Net.Sockets;
using KeepAlive.AspNetCore.Testing;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// The listener factory over Kestrel's real socket transport, as UseKeepAlivePolicy() registers them: every connection it accepts gets the policy, and, once the
/// kernel is seen copying the listening socket's options, takes them from there without a setsockopt of its own.
/// </summary>
public class KeepAliveListenerFactoryTests
{
    [Fact]
    public async Task Connections_after_the_first_take_the_listening_sockets_options_without_setting_their_own()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Linux copies a listening socket's options to the sockets it accepts.");
        Socket? listening = null;
        await using var services = Services(transport => transport.CreateBoundListenSocket = Keep(transport.CreateBoundListenSocket, s => listening = s));
        var factory = Assert.IsType<KeepAliveListenerFactory>(services.GetRequiredService<IConnectionListenerFactory>());
        var sockets = services.GetRequiredService<ListeningSockets>();

        await using var listener = await factory.BindAsync(new IPEndPoint(IPAddress.Loopback, 0), TestContext.Current.CancellationToken);
        Assert.NotNull(listening);
        Assert.Null(sockets.Take(listener.EndPoint)); // handed to the listener that owns it

        await using (var first = await ConnectAsync(listener))
            Assert.Equal(7, first.Options.IdleSeconds); // verified against the kernel
        // Were the next connection to set its options, it would have 7 s, not what the listening socket now has.
        KernelSocketOptions.SetUserTimeout(listening, 12_345);
        await using var second = await ConnectAsync(listener);

        Assert.Equal(new KernelSocketOptions(true, 7, 10, 6, 12_345), second.Options);
    }

    [Fact]
    public async Task The_inner_transport_decides_which_endpoints_it_binds()
    {
        await using var services = Services(_ => { });
        var factory = services.GetRequiredService<IConnectionListenerFactory>();

        Assert.True(((IConnectionListenerFactorySelector)factory).CanBind(new IPEndPoint(IPAddress.Loopback, 0)));
        Assert.False(((IConnectionListenerFactorySelector)factory).CanBind(new DnsEndPoint("localhost", 80)));
    }

    // The services UseKeepAlivePolicy() adds over Kestrel's socket transport, with a 7 s idle.
    private static ServiceProvider Services(Action<SocketTransportOptions> transport) =>
        new ServiceCollection()
            .AddSingleton<IConfiguration>(new ConfigurationBuilder().Build())
            .AddLogging()
            .Configure(transport)
            .AddSingleton<IConnectionListenerFactory, SocketTransportFactory>()
            .AddKeepAlivePolicy(options => options.Idle = TimeSpan.FromSeconds(7))
            .BuildServiceProvider();

    private static Func<EndPoint, Socket> Keep(Func<EndPoint, Socket> create, Action<Socket> keep) => endpoint =>
    {
        var socket = create(endpoint);
        keep(socket);
        return socket;
    };

    private static async Task<Accepted> ConnectAsync(IConnectionListener listener)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.EndPoint, timeout.Token);
        var connection = await listener.AcceptAsync(timeout.Token);
        var keepAlive = Assert.IsType<KeepAliveConnection>(connection);
        return new Accepted(client, keepAlive, KernelSocketOptions.Read(keepAlive.Socket!));
    }

    private sealed record Accepted(Socket Client, ConnectionContext Connection, KernelSocketOptions Options) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await Connection.DisposeAsync();
        }
    }
}
