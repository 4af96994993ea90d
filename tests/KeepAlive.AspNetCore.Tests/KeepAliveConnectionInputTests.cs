using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using KeepAlive.AspNetCore.Tests.Infrastructure;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// The input of a connection under the policy, as Kestrel reads it: a read that waits gets the data, and the
/// kernel's verdict on a silent peer comes as an <see cref="IOException"/>. Over the transport's own pipe (the
/// caller's continuation goes to the pipe as is) and over any other reader (through the decorator's callback).
/// </summary>
public class KeepAliveConnectionInputTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_read_that_waits_completes_with_the_data_when_it_arrives(bool otherReader)
    {
        using var pair = await LoopbackTcpPair.ConnectAsync();
        var received = new Pipe();
        var input = Wrap(pair.Server, received, otherReader).Transport.Input;

        for (var i = 0; i < 3; i++) // the same decorator, read after read
        {
            var read = input.ReadAsync(TestContext.Current.CancellationToken);
            Assert.False(read.IsCompleted);
            await received.Writer.WriteAsync(Encoding.ASCII.GetBytes($"chunk {i}"), TestContext.Current.CancellationToken);

            var result = await read.AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

            Assert.Equal($"chunk {i}", Encoding.ASCII.GetString(result.Buffer));
            input.AdvanceTo(result.Buffer.End);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_read_that_waits_when_the_kernel_gives_up_on_the_peer_fails_with_an_IOException(bool otherReader)
    {
        using var pair = await LoopbackTcpPair.ConnectAsync();
        var received = new Pipe();
        var input = Wrap(pair.Server, received, otherReader).Transport.Input;

        var read = input.ReadAsync(TestContext.Current.CancellationToken);
        Assert.False(read.IsCompleted);
        await received.Writer.CompleteAsync(new SocketException((int)SocketError.TimedOut));

        var failure = await Assert.ThrowsAsync<IOException>(() => read.AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
        Assert.StartsWith("The peer stopped answering", failure.Message, StringComparison.Ordinal);
        Assert.Equal(SocketError.TimedOut, Assert.IsType<SocketException>(failure.InnerException).SocketErrorCode);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_read_that_waits_and_is_canceled_reports_it_as_the_transport_does(bool otherReader)
    {
        using var pair = await LoopbackTcpPair.ConnectAsync();
        var received = new Pipe();
        var input = Wrap(pair.Server, received, otherReader).Transport.Input;

        var read = input.ReadAsync(TestContext.Current.CancellationToken);
        input.CancelPendingRead();

        var result = await read.AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.True(result.IsCanceled);
    }

    // A connection of the socket transport's shape: a real socket, its received bytes in a pipe.
    private static ConnectionContext Wrap(Socket socket, Pipe received, bool otherReader)
    {
        // Any reader but the pipe itself: its reads are not the pipe's own ValueTask source.
        var reader = otherReader ? PipeReader.Create(received.Reader.AsStream()) : received.Reader;
        var connection = new DefaultConnectionContext("conn-1", new DuplexPipe(reader, new Pipe().Writer), new DuplexPipe(received.Reader, received.Writer));
        connection.Features.Set<IConnectionSocketFeature>(new SocketFeature(socket));
        var policy = KeepAlivePolicy.Create(KeepAlivePolicy.DefaultName, new KeepAliveOptions(), new KeepAliveMetrics(new TestMeterFactory()), new TestLogger());
        return Assert.IsType<KeepAliveConnection>(policy.Apply(connection, KeepAliveEndpoint.From(new IPEndPoint(IPAddress.Loopback, 8080))));
    }

    private sealed record DuplexPipe(PipeReader Input, PipeWriter Output) : IDuplexPipe;

    private sealed class SocketFeature(Socket socket) : IConnectionSocketFeature
    {
        public Socket Socket => socket;
    }
}
