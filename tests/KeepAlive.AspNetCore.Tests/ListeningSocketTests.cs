using System.Net;
using System.Net.Sockets;
using KeepAlive.AspNetCore.Testing;
using KeepAlive.AspNetCore.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Testing;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// The default policy set on a real listening socket, and what its accepted sockets are taken to have: the kernel copies
/// the options, so a connection needs no setsockopt of its own, except the ones that may have been queued before a
/// reload changed the default.
/// </summary>
public class ListeningSocketTests
{
    private const int Backlog = 3; // Linux queues backlog + 1; the socket counts twice that as uncertain after a change

    [Fact]
    public async Task Accepted_sockets_start_with_the_policy_set_on_the_listening_socket()
    {
        SkipUnlessLinux();
        var policy = Policy(TimeSpan.FromSeconds(7));
        using var listener = BoundSocket();
        var listening = ListeningSocket.TryCreate(listener, policy, Backlog);
        listener.Listen(Backlog);

        using var accepted = await AcceptAsync(listener);

        Assert.NotNull(listening);
        Assert.Equal(new KernelSocketOptions(true, 7, 10, 6, 67_000), KernelSocketOptions.Read(accepted.Server));
        Assert.Equal(InheritedPolicy.ThisPolicy, listening.Inherited(policy, SocketConnection.Create(accepted.Server)));
    }

    [Fact]
    public async Task After_a_changed_default_the_connections_that_may_have_been_queued_are_unknown_and_the_next_inherit_it()
    {
        SkipUnlessLinux();
        using var listener = BoundSocket();
        var listening = ListeningSocket.TryCreate(listener, Policy(TimeSpan.FromSeconds(7)), Backlog)!;
        listener.Listen(Backlog);
        var reloaded = Policy(TimeSpan.FromSeconds(40));

        var answers = new List<InheritedPolicy>();
        for (var i = 0; i < 2 * (Backlog + 1) + 2; i++)
        {
            using var accepted = await AcceptAsync(listener);
            answers.Add(listening.Inherited(reloaded, SocketConnection.Create(accepted.Server)));
            if (i > 0)
                Assert.Equal(40, KernelSocketOptions.Read(accepted.Server).IdleSeconds); // queued after the change
        }

        // The first answer is the change itself; then the 8 that may have been queued before it.
        Assert.Equal(Enumerable.Repeat(InheritedPolicy.Unknown, 1 + 2 * (Backlog + 1)).Append(InheritedPolicy.ThisPolicy), answers);
    }

    [Fact]
    public async Task A_reload_that_leaves_the_default_as_it_was_keeps_its_connections_inheriting_it()
    {
        SkipUnlessLinux();
        using var listener = BoundSocket();
        var listening = ListeningSocket.TryCreate(listener, Policy(TimeSpan.FromSeconds(7)), Backlog)!;
        listener.Listen(Backlog);

        using var accepted = await AcceptAsync(listener);

        Assert.Equal(InheritedPolicy.ThisPolicy, listening.Inherited(Policy(TimeSpan.FromSeconds(7)), SocketConnection.Create(accepted.Server)));
    }

    [Fact]
    public async Task A_socket_found_without_the_options_makes_every_later_connection_unknown()
    {
        // As on a Linux emulation that does not copy a listening socket's options: each connection then sets its own.
        SkipUnlessLinux();
        var policy = Policy(TimeSpan.FromSeconds(7));
        using var listener = BoundSocket();
        var listening = ListeningSocket.TryCreate(listener, policy, Backlog)!;
        listener.Listen(Backlog);
        using var elsewhere = await LoopbackTcpPair.ConnectAsync(); // accepted from a listener without the policy
        using var accepted = await AcceptAsync(listener);

        Assert.Equal(InheritedPolicy.Unknown, listening.Inherited(policy, SocketConnection.Create(elsewhere.Server)));
        Assert.Equal(InheritedPolicy.Unknown, listening.Inherited(policy, SocketConnection.Create(accepted.Server)));
    }

    [Fact]
    public async Task A_socket_closed_before_it_could_be_read_back_leaves_the_check_to_the_next()
    {
        SkipUnlessLinux();
        var policy = Policy(TimeSpan.FromSeconds(7));
        using var listener = BoundSocket();
        var listening = ListeningSocket.TryCreate(listener, policy, Backlog)!;
        listener.Listen(Backlog);
        var closed = await AcceptAsync(listener);
        closed.Dispose();
        using var accepted = await AcceptAsync(listener);

        Assert.Equal(InheritedPolicy.Unknown, listening.Inherited(policy, SocketConnection.Create(closed.Server)));
        Assert.Equal(InheritedPolicy.ThisPolicy, listening.Inherited(policy, SocketConnection.Create(accepted.Server)));
    }

    [Fact]
    public void The_transports_sockets_are_handed_over_once_by_the_address_they_are_bound_to()
    {
        SkipUnlessLinux();
        var sockets = new ListeningSockets(() => Policy(TimeSpan.FromSeconds(7)));
        using var tcp = BoundSocket();
        using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));

        sockets.OnBound(tcp, Backlog);
        sockets.OnBound(udp, Backlog);

        Assert.Equal(7, KernelSocketOptions.Read(tcp).IdleSeconds);
        Assert.NotNull(sockets.Take(tcp.LocalEndPoint!));
        Assert.Null(sockets.Take(tcp.LocalEndPoint!));
        Assert.Null(sockets.Take(udp.LocalEndPoint!)); // not TCP: nothing to inherit
    }

    private static Socket BoundSocket()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return socket;
    }

    private static async Task<LoopbackTcpPair> AcceptAsync(Socket listener)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var accept = listener.AcceptAsync(timeout.Token);
        await client.ConnectAsync(listener.LocalEndPoint!, timeout.Token);
        return LoopbackTcpPair.Of(client, await accept);
    }

    private static KeepAlivePolicy Policy(TimeSpan idle) =>
        KeepAlivePolicy.Create(KeepAlivePolicy.DefaultName, new KeepAliveOptions { Idle = idle }, new KeepAliveMetrics(new TestMeterFactory()), new FakeLogger());

    private static void SkipUnlessLinux() =>
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Linux copies a listening socket's options to the sockets it accepts.");
}
