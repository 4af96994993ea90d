using KeepAlive.AspNetCore.Tests.Infrastructure;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// TCP_INFO stays readable through a duplicated descriptor after the transport disposed its socket: how a verdict the
/// output meets first is still read (the transport closes its socket before it fails the output). The duplicate is the
/// process's own: close-on-exec, closed exactly once, never read once closed.
/// </summary>
public class SocketDescriptorTests
{
    private const int CloseOnExec = 0x80000; // O_CLOEXEC, as /proc/PID/fdinfo's octal "flags" shows it: 02000000

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
        Assert.True(descriptor.Close());
    }

    [Fact]
    public async Task The_duplicate_is_close_on_exec_as_the_socket_is()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Descriptors are duplicated on Linux only.");
        using var pair = await LoopbackTcpPair.ConnectAsync();
        var descriptor = SocketDescriptor.Duplicate(pair.Server);
        try
        {
            Assert.True((Flags((int)pair.Server.Handle) & CloseOnExec) != 0, "Expected .NET's socket to be close-on-exec.");
            Assert.True((Flags(descriptor.Number) & CloseOnExec) != 0, "The duplicate would be inherited by every child process.");
        }
        finally
        {
            descriptor.Close();
        }
    }

    [Fact]
    public void A_disposed_socket_gives_no_duplicate()
    {
        var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        socket.Dispose();

        Assert.False(SocketDescriptor.Duplicate(socket).IsValid);
    }

    [Fact]
    public async Task A_held_duplicate_is_closed_once_whoever_releases_it_and_reads_it_at_once()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Descriptors are duplicated on Linux only.");
        // The waiting write's end and the connection's end both release it, while a verdict may be read through it.
        const int Rounds = 2000;
        var token = TestContext.Current.CancellationToken;
        using var pair = await LoopbackTcpPair.ConnectAsync();
        var own = (int)pair.Server.Handle;
        var socketTarget = Target(own);
        var readsThatSawIt = 0;
        for (var round = 0; round < Rounds; round++)
        {
            var holder = new Holder();
            holder.Descriptor.Hold(pair.Server);
            var number = Assert.Single(Naming(socketTarget), n => n != own);

            var closes = 0;
            using var start = new Barrier(3);
            var racers = new[]
            {
                Task.Run(() => { start.SignalAndWait(token); if (holder.Descriptor.Release()) Interlocked.Increment(ref closes); }, token),
                Task.Run(() => { start.SignalAndWait(token); if (holder.Descriptor.Release()) Interlocked.Increment(ref closes); }, token),
                Task.Run(() =>
                {
                    start.SignalAndWait(token);
                    if (holder.Descriptor.TryReadTcpInfo(out var info, out var closed))
                    {
                        // Read while held: the socket's own TCP_INFO, never another's.
                        Assert.Equal(TcpConnectionInfo.Established, info.State);
                        Interlocked.Increment(ref readsThatSawIt);
                    }
                    if (closed)
                        Interlocked.Increment(ref closes);
                }, token),
            };
            await Task.WhenAll(racers);

            Assert.Equal(1, closes);
            Assert.False(holder.Descriptor.Release(), "Nothing is left to close.");
            // The number no longer names the socket (it may name something else the process opened since).
            Assert.NotEqual(socketTarget, Target(number));
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"{readsThatSawIt} of {Rounds} reads came before both releases");
    }

    // A class around the struct, so the racers share one field as the connection's do.
    private sealed class Holder
    {
        public WaitingWriteDescriptor Descriptor;
    }

    // The process's descriptors that name the same kernel socket (socket:[inode]).
    private static IEnumerable<int> Naming(string? target) =>
        Directory.GetFiles("/proc/self/fd").Select(path => int.Parse(Path.GetFileName(path))).Where(n => Target(n) == target).ToList();

    private static string? Target(int descriptor)
    {
        try
        {
            return new FileInfo($"/proc/self/fd/{descriptor}").LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static int Flags(int descriptor)
    {
        var line = File.ReadLines($"/proc/self/fdinfo/{descriptor}").Single(l => l.StartsWith("flags:", StringComparison.Ordinal));
        return Convert.ToInt32(line["flags:".Length..].Trim(), 8);
    }
}
