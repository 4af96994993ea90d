using KeepAlive.AspNetCore.Tests.Infrastructure;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// TCP_INFO stays readable through a duplicated descriptor after the transport disposed its socket: how a verdict the
/// output meets first is still read (the transport closes its socket before it fails the output).
/// </summary>
public class SocketDescriptorTests
{
    [Fact]
    public async Task TCP_INFO_is_read_through_the_duplicate_after_the_socket_is_disposed()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Descriptors are duplicated on Linux only.");
        using var pair = await LoopbackTcpPair.ConnectAsync();
        var descriptor = SocketDescriptor.Duplicate(pair.Server);
        Assert.True(descriptor.IsValid);

        pair.Server.Dispose();
        Assert.False(TcpConnectionInfo.TryRead(pair.Server, out _));
        Assert.True(TcpConnectionInfo.TryRead(descriptor, out var info));
        Assert.Equal(TcpConnectionInfo.Established, info.State); // the kernel's socket lives while a descriptor does
        descriptor.Close();
    }

    [Fact]
    public void A_disposed_socket_gives_no_duplicate()
    {
        var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        socket.Dispose();

        Assert.False(SocketDescriptor.Duplicate(socket).IsValid);
    }
}
