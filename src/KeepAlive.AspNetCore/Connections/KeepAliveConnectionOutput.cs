using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The transport's output as the layers above see it: forwarded untouched, except a flush that fails because the
/// kernel gave up on the peer. Kestrel's socket transport completes its output with that error (ETIMEDOUT is neither
/// a reset nor an abort to it), and Kestrel logs a flush that throws as an Error with a stack trace, for every
/// connection: a stream to a dead peer (user timeout) or to a client that stopped reading (zero window) would each
/// leave one. Here such a flush reports the output completed, as if the peer had closed it; Kestrel's HTTP layer
/// then stops writing, and ends the connection through its input, where the library reports it once.
/// </summary>
/// <param name="connection">The connection: its transport's own output, and told of the verdict.</param>
internal sealed class KeepAliveConnectionOutput(KeepAliveConnection connection) : PipeWriter
{
    private static readonly FlushResult Completed = new(isCanceled: false, isCompleted: true);

    // Read through the connection, not kept: every connection holds one of these, and a field would be 8 B more each.
    private PipeWriter Inner => connection.TransportOutput;

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        ValueTask<FlushResult> flush;
        try
        {
            flush = Inner.FlushAsync(cancellationToken);
        }
        catch (Exception ex) when (connection.OnSendFailed(ex))
        {
            return new(Completed);
        }
        return flush.IsCompletedSuccessfully ? flush : AwaitAsync(flush);
    }

    public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
    {
        ValueTask<FlushResult> write;
        try
        {
            write = Inner.WriteAsync(source, cancellationToken);
        }
        catch (Exception ex) when (connection.OnSendFailed(ex))
        {
            return new(Completed);
        }
        return write.IsCompletedSuccessfully ? write : AwaitAsync(write);
    }

    // Only a flush that waits (the peer is slow to read, or gone) comes here; pooled, so waiting allocates nothing. While
    // it waits the connection keeps a descriptor of the socket's own: should the kernel give up on the peer, the send
    // may take its error first, and the transport closes its socket before this flush fails.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FlushResult> AwaitAsync(ValueTask<FlushResult> flush)
    {
        connection.OnWriteWaiting();
        try
        {
            return await flush.ConfigureAwait(false);
        }
        catch (Exception ex) when (connection.OnSendFailed(ex))
        {
            return Completed;
        }
        finally
        {
            connection.OnWriteDone();
        }
    }

    public override void Advance(int bytes) => Inner.Advance(bytes);

    public override Memory<byte> GetMemory(int sizeHint = 0) => Inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => Inner.GetSpan(sizeHint);

    public override void CancelPendingFlush() => Inner.CancelPendingFlush();

    public override bool CanGetUnflushedBytes => Inner.CanGetUnflushedBytes;

    public override long UnflushedBytes => Inner.UnflushedBytes;

    public override void Complete(Exception? exception = null) => Inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => Inner.CompleteAsync(exception);
}
