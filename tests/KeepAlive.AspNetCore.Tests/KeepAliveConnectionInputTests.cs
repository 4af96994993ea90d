using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using KeepAlive.AspNetCore.Tests.Infrastructure;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// The input of a connection under the policy, as Kestrel reads it: awaited while it waits, a read gets the data,
/// and the kernel's verdict on a silent peer comes as an <see cref="IOException"/>. Over the transport's own pipe
/// (the caller's continuation goes to the pipe as is) and over any other reader (through the decorator's callback).
/// Every read is awaited before anything can complete it, so its continuation goes through the decorator.
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
            var reading = ReadAsync(input, TestContext.Current.CancellationToken);
            Assert.False(reading.IsCompleted);
            await received.Writer.WriteAsync(Encoding.ASCII.GetBytes($"chunk {i}"), TestContext.Current.CancellationToken);

            Assert.Equal($"chunk {i}", (await Within10s(reading)).Text);
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

        var reading = ReadAsync(input, TestContext.Current.CancellationToken);
        Assert.False(reading.IsCompleted);
        await received.Writer.CompleteAsync(new SocketException((int)SocketError.TimedOut));

        var failure = await Assert.ThrowsAsync<IOException>(() => Within10s(reading));
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

        var reading = ReadAsync(input, TestContext.Current.CancellationToken);
        Assert.False(reading.IsCompleted);
        input.CancelPendingRead();

        Assert.True((await Within10s(reading)).Canceled);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_continuation_that_asks_for_the_execution_context_gets_the_readers(bool otherReader)
    {
        using var pair = await LoopbackTcpPair.ConnectAsync();
        var received = new Pipe();
        var input = Wrap(pair.Server, received, otherReader).Transport.Input;
        var local = new AsyncLocal<string?> { Value = "reader" };
        var seen = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);

        var read = input.ReadAsync(TestContext.Current.CancellationToken);
        read.GetAwaiter().OnCompleted(() => seen.SetResult(local.Value)); // OnCompleted, not UnsafeOnCompleted: flow it
        // Completed from a context without the value: only a flowed context has it.
        await Task.Run(async () => { local.Value = null; await received.Writer.WriteAsync("x"u8.ToArray()); }, TestContext.Current.CancellationToken);

        Assert.Equal("reader", await Within10s(seen.Task));
        input.AdvanceTo((await read).Buffer.End); // completed: awaiting it now only takes the result
    }

    [Fact]
    public async Task A_read_canceled_by_its_token_does_not_hide_a_later_kernel_verdict()
    {
        var pair = await LoopbackTcpPair.ConnectAsync();
        var received = new Pipe();
        var logger = new FakeLogger();
        var input = Wrap(pair.Server, received, otherReader: false, logger).Transport.Input;

        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var canceled = ReadAsync(input, cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Within10s(canceled));

        // Then the kernel gives up on the peer: the socket is gone (no TCP_INFO), the receive error tells.
        pair.Dispose();
        var reading = ReadAsync(input, TestContext.Current.CancellationToken);
        await received.Writer.CompleteAsync(new SocketException((int)SocketError.TimedOut));
        await Assert.ThrowsAsync<IOException>(() => Within10s(reading));

        var lost = Assert.Single(logger.Collector.GetSnapshot(), e => e.Id.Name == "ConnectionLost");
        Assert.Contains("(tcp_timeout)", lost.Message, StringComparison.Ordinal);
    }

    // Awaits one read in an async method, as Kestrel does: nothing was written yet, so the read is pending when
    // this returns and its continuation went through the decorator's OnCompleted.
    private static async Task<(string Text, bool Canceled)> ReadAsync(PipeReader input, CancellationToken cancellationToken)
    {
        var result = await input.ReadAsync(cancellationToken);
        var text = Encoding.ASCII.GetString(result.Buffer);
        input.AdvanceTo(result.Buffer.End);
        return (text, result.IsCanceled);
    }

    private static Task<T> Within10s<T>(Task<T> task) => task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

    // A connection of the socket transport's shape: a real socket, its received bytes in a pipe.
    private static ConnectionContext Wrap(Socket socket, Pipe received, bool otherReader, ILogger? logger = null)
    {
        // Any reader but the pipe itself: its reads are not the pipe's own ValueTask source.
        var reader = otherReader ? PipeReader.Create(received.Reader.AsStream()) : received.Reader;
        var connection = SocketConnection.Create(socket, transport: new DuplexPipe(reader, new Pipe().Writer), application: new DuplexPipe(received.Reader, received.Writer));
        return DefaultPolicy.Create(new TestMeterFactory(), logger).Wrap(connection);
    }

    private sealed record DuplexPipe(PipeReader Input, PipeWriter Output) : IDuplexPipe;
}
